/* replay_main: runs a libFuzzer target over every file of the given corpus
 * directories (or single files) without libFuzzer, so fuzz regressions are
 * part of the normal test suite (and of the sanitizer build). Also feeds a few
 * synthetic inputs (empty, truncated prefixes of each file). Prints
 * "N passed, 0 failed": a crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) n = 0;
    uint8_t *buf = malloc((size_t)n + 1);
    size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!buf) return 0;
    /* Each input whole, then truncated at a few points (copied so ASan sees the end). */
    size_t cuts[] = {got, got / 2, got > 8 ? 8 : got, got > 1 ? got - 1 : 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        uint8_t *c = malloc(cuts[i] ? cuts[i] : 1);
        memcpy(c, buf, cuts[i]);
        LLVMFuzzerTestOneInput(c, cuts[i]);
        free(c);
    }
    free(buf);
    return 1;
}

int main(int argc, char **argv) {
    int n = 0;
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "replay: %s: not found\n", argv[a]);
            printf("0 passed, 1 failed\n");
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[a]);
            struct dirent *e;
            while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
                n += run_file(p);
            }
            if (d) closedir(d);
        } else {
            n += run_file(argv[a]);
        }
    }
    printf("%d passed, 0 failed\n", n);
    return 0;
}
