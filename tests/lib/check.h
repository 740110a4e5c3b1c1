/*
 * The smallest test framework that does the job: CHECK records a failure with its place
 * and goes on; TEST_MAIN runs the listed cases and exits non-zero when any check failed.
 *
 *   static void test_parse(void) { CHECK(parse("1") == 1); CHECK_STR(name(), "kb"); }
 *   TEST_MAIN(test_parse, test_other)
 */
#ifndef MENTIS_TEST_CHECK_H
#define MENTIS_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

extern int check_failures;
extern int check_count;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        check_count++;                                                                       \
        if (!(cond)) {                                                                       \
            check_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                                    \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                 \
    do {                                                                                     \
        check_count++;                                                                       \
        if (!(cond)) {                                                                       \
            check_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
        }                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *check_a_ = (a), *check_b_ = (b);                                         \
        check_count++;                                                                       \
        if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) {       \
            check_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s (\"%s\" vs \"%s\")\n",       \
                    __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",             \
                    check_b_ ? check_b_ : "(null)");                                         \
        }                                                                                    \
    } while (0)

#define CHECK_INT(a, b)                                                                      \
    do {                                                                                     \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                      \
        check_count++;                                                                       \
        if (check_a_ != check_b_) {                                                          \
            check_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %s (%lld vs %lld)\n", __FILE__, \
                    __LINE__, #a, #b, check_a_, check_b_);                                   \
        }                                                                                    \
    } while (0)

/* Stops the current case (e.g. when later checks would dereference NULL). Evaluates once. */
#define REQUIRE(cond)                                                                        \
    do {                                                                                     \
        check_count++;                                                                       \
        if (!(cond)) {                                                                       \
            check_failures++;                                                                \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);      \
            return;                                                                          \
        }                                                                                    \
    } while (0)

typedef void (*check_case_fn)(void);

#define CHECK_STRINGIFY_ALL_(...) #__VA_ARGS__
#define TEST_MAIN(...)                                                                       \
    int main(void)                                                                           \
    {                                                                                        \
        static const check_case_fn cases[] = {__VA_ARGS__};                                  \
        static const char names[] = CHECK_STRINGIFY_ALL_(__VA_ARGS__);                       \
        return check_run_named(names, cases, (int)(sizeof cases / sizeof cases[0]));         \
    }

int check_run_named(const char *names, const check_case_fn *cases, int n);

#endif
