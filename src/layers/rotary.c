/* rotary: RoPE frequencies and rotation (see rotary.h).
 *
 * Frequencies follow transformers' rope init functions: inv_freq[i] =
 * theta^(-2i/d), then
 *   linear: inv_freq / factor
 *   llama3: wavelength-based blend (low/high freq factors over the original context)
 *   yarn:   ramp between interpolated (inv_freq/factor) and extrapolated
 *           frequencies over the correction range from beta_fast/beta_slow, with
 *           attention_factor = 0.1*ln(factor)+1 (or from mscale/mscale_all_dim).
 * Angles are computed in double and rounded once to f32. */
#include "layers/rotary.h"

#include <math.h>
#include <stdlib.h>

static double yarn_get_mscale(double scale, double mscale) {
    if (scale <= 1.0) return 1.0;
    return 0.1 * mscale * log(scale) + 1.0;
}

static double yarn_correction_dim(double rotations, double dim, double base, double max_pos) {
    return (dim * log(max_pos / (rotations * 2.0 * M_PI))) / (2.0 * log(base));
}

int rotary_init(struct rotary *r, const struct model_config *cfg, struct sgl_err *err) {
    int64_t d = cfg->head_dim, half = d / 2;
    r->head_dim = d;
    r->interleaved = cfg->rope_interleaved;
    r->attention_factor = 1.0f;
    r->inv_freq = malloc((size_t)half * sizeof(double));
    if (!r->inv_freq) return err_setf(err, ERR_NOMEM, "rotary: out of memory");
    double base = cfg->rope_theta;
    for (int64_t i = 0; i < half; i++) {
        /* transformers computes this in f32: 1 / base^(f32(2i)/d) */
        float expo = (float)(2 * i) / (float)d;
        r->inv_freq[i] = (double)(1.0f / (float)pow(base, (double)expo));
    }
    const struct rope_scaling *rs = &cfg->rope_scaling;
    switch (rs->type) {
    case ROPE_SCALING_NONE:
        break;
    case ROPE_SCALING_LINEAR:
        for (int64_t i = 0; i < half; i++) r->inv_freq[i] /= rs->factor;
        break;
    case ROPE_SCALING_LLAMA3: {
        double old_ctx = (double)rs->original_max_position_embeddings;
        double low_wl = old_ctx / rs->low_freq_factor, high_wl = old_ctx / rs->high_freq_factor;
        for (int64_t i = 0; i < half; i++) {
            double f = r->inv_freq[i], wl = 2.0 * M_PI / f;
            if (wl < high_wl) continue;
            if (wl > low_wl) {
                r->inv_freq[i] = f / rs->factor;
            } else {
                double smooth = (old_ctx / wl - rs->low_freq_factor) / (rs->high_freq_factor - rs->low_freq_factor);
                r->inv_freq[i] = (1.0 - smooth) * f / rs->factor + smooth * f;
            }
        }
        break;
    }
    case ROPE_SCALING_YARN: {
        double factor = rs->factor;
        double orig = rs->original_max_position_embeddings > 0 ? (double)rs->original_max_position_embeddings
                                                                 : (double)cfg->max_position_embeddings;
        double beta_fast = rs->beta_fast > 0 ? rs->beta_fast : 32.0;
        double beta_slow = rs->beta_slow > 0 ? rs->beta_slow : 1.0;
        double low = floor(yarn_correction_dim(beta_fast, (double)d, base, orig));
        double high = ceil(yarn_correction_dim(beta_slow, (double)d, base, orig));
        if (low < 0) low = 0;
        if (high > (double)(d - 1)) high = (double)(d - 1);
        if (low == high) high += 0.001;
        for (int64_t i = 0; i < half; i++) {
            double ramp = ((double)i - low) / (high - low);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double extra_factor = 1.0 - ramp;
            double extra = r->inv_freq[i], inter = r->inv_freq[i] / factor;
            r->inv_freq[i] = inter * (1.0 - extra_factor) + extra * extra_factor;
        }
        double af = rs->attention_factor;
        if (af <= 0) {
            if (rs->mscale > 0 && rs->mscale_all_dim > 0)
                af = yarn_get_mscale(factor, rs->mscale) / yarn_get_mscale(factor, rs->mscale_all_dim);
            else
                af = yarn_get_mscale(factor, 1.0);
        }
        r->attention_factor = (float)af;
        break;
    }
    }
    return 0;
}

void rotary_free(struct rotary *r) {
    if (!r) return;
    free(r->inv_freq);
    r->inv_freq = NULL;
}

void rotary_cos_sin(const struct rotary *r, int64_t pos, float *cos_out, float *sin_out) {
    int64_t half = r->head_dim / 2;
    for (int64_t i = 0; i < half; i++) {
        /* transformers: freqs = f32(inv_freq) * f32(pos) in f32, then cos/sin */
        float ang = (float)r->inv_freq[i] * (float)pos;
        cos_out[i] = (float)cos((double)ang) * r->attention_factor;
        sin_out[i] = (float)sin((double)ang) * r->attention_factor;
    }
}

void rotary_apply(const struct rotary *r, float *x, int64_t n_heads, const float *cos_v, const float *sin_v) {
    int64_t d = r->head_dim, half = d / 2;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * d;
        if (r->interleaved) {
            for (int64_t i = 0; i < half; i++) {
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * cos_v[i] - b * sin_v[i];
                v[2 * i + 1] = b * cos_v[i] + a * sin_v[i];
            }
        } else {
            for (int64_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cos_v[i] - b * sin_v[i];
                v[i + half] = b * cos_v[i] + a * sin_v[i];
            }
        }
    }
}
