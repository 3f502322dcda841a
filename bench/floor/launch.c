/* launch: start one program for the benchmarks and say what it cost.
 *
 *   launch OUTFILE PROGRAM [ARG]...
 *
 * Writes to OUTFILE "start <epoch s> pid <pid>" when the program has been forked, then, once
 * it has exited, "exit <epoch s> status <wait status> maxrss_kib <n> cpu_s <user + system>".
 * Both are wait4's: the largest resident set of the program and of every child it reaped
 * (hookhost's workers), and the CPU time of all of them.
 *
 * launch is a child subreaper (PR_SET_CHILD_SUBREAPER): a worker that outlives the program (its
 * parent was killed first) is re-parented to launch, which reaps it too, so that its peak RSS and
 * CPU are counted, and kills it if it is still there 1 s after the program exited: nothing is
 * left behind.
 *
 * Why a launcher: Linux carries a process's peak RSS across exec (the pre-exec image counts), so
 * a program started straight from the Python driver would report the driver's ~40 MiB as its own
 * peak. Started from this small process, it starts from ~1 MiB. The start time is also taken
 * here, right before fork, without Python's own spawning costs. SIGTERM and SIGINT are passed
 * on to the program; launch then still waits for it and reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

static double cpu_of(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* SIGKILL every child of this process (orphans re-parented to it). */
static void kill_children(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[320];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int pid;
        while (fscanf(f, "%d", &pid) == 1)
            kill(pid, SIGKILL);
        fclose(f);
    }
    closedir(d);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: launch OUTFILE PROGRAM [ARG]...\n", stderr);
        return 2;
    }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        fprintf(stderr, "launch: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "launch: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        execv(argv[2], argv + 2);
        fprintf(stderr, "launch: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    dprintf(out, "start %.6f pid %d\n", t0, (int)pid);
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "launch: wait4: %s\n", strerror(errno));
            return 2;
        }
    }
    double t1 = now();
    long maxrss = ru.ru_maxrss;
    double cpu = cpu_of(&ru);
    /* Orphaned descendants (re-parented here): reap them, killing any left after 1 s. */
    double give_up = now() + 1.0;
    int killed = 0;
    for (;;) {
        struct rusage r2;
        pid_t p = wait4(-1, NULL, WNOHANG, &r2);
        if (p > 0) {
            maxrss = r2.ru_maxrss > maxrss ? r2.ru_maxrss : maxrss;
            cpu += cpu_of(&r2);
            continue;
        }
        if (p < 0 && errno == ECHILD)
            break;
        if (!killed && now() > give_up) {
            kill_children();
            killed = 1;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    dprintf(out, "exit %.6f status %d maxrss_kib %ld cpu_s %.6f\n", t1, status, maxrss, cpu);
    close(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
