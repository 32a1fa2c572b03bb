/*
 * main.c - the prodata command: dispatches to one function per command. Only
 * this folder prints or exits; everything below returns PdError values.
 */
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0)
    {
        printf("prodata %s\n", PD_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: prodata <command> [options]\n");
    return 2;
}
