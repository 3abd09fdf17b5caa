/* The pod sandbox's process: sleeps until a signal ends it, as the upstream pause image does. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }

int main(void) {
    signal(SIGINT, quit);
    signal(SIGTERM, quit);
    for (;;) pause();
    return 0;
}
