/* wordfreq: print how often each word occurs on standard input, most frequent first
 * (ties in alphabetical order). A word is a run of ASCII letters, folded to lower case. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORD 64

struct entry {
    char word[MAX_WORD];
    long count;
};

static struct entry *entries;
static size_t used, capacity;

static void add(const char *word)
{
    for (size_t i = 0; i < used; i++) {
        if (strcmp(entries[i].word, word) == 0) {
            entries[i].count++;
            return;
        }
    }
    if (used == capacity) {
        capacity = capacity ? capacity * 2 : 64;
        entries = realloc(entries, capacity * sizeof *entries);
        if (!entries) {
            perror("wordfreq");
            exit(2);
        }
    }
    strcpy(entries[used].word, word);
    entries[used].count = 1;
    used++;
}

static int by_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

int main(void)
{
    char word[MAX_WORD];
    size_t len = 0;
    int c;
    do {
        c = getchar();
        if (c != EOF && isalpha(c)) {
            if (len < MAX_WORD - 1)
                word[len++] = (char)tolower(c);
        } else if (len > 0) {
            word[len] = '\0';
            add(word);
            len = 0;
        }
    } while (c != EOF);
    qsort(entries, used, sizeof *entries, by_count);
#ifdef DEBUG
    fprintf(stderr, "wordfreq (debug): %zu distinct words\n", used);
#endif
    for (size_t i = 0; i < used; i++)
        printf("%ld %s\n", entries[i].count, entries[i].word);
    free(entries);
    return 0;
}
