/* empty: the link floor. An empty main, linked once with exactly hookhost's libraries
 * (the Makefile's $(LDLIBS), --no-as-needed so that every one is loaded) and once with libcrypto
 * alone. Its start -> exit time and peak RSS are what the dynamic loader costs before hookhost's
 * first line runs. */
int main(void)
{
    return 0;
}
