/* lowprof-spawn FD CMD ARGS...: start CMD from a small process image and report on it through FD.
 *
 * Why: the kernel's ru_maxrss of a process counts the memory image it was forked from (exec records the
 * old image's high-water mark), so a workload forked straight from lowprof (~120 MiB of Python, pandas,
 * pyarrow) would report lowprof's peak RSS as its own.  This helper is exec'd by lowprof (its own peak
 * is lowprof's, never reported); it forks CMD from its own ~1 MiB image, as /usr/bin/time does, and
 * reports CMD's rusage from wait4, which then matches /usr/bin/time -v.
 *
 * Protocol, one line each on FD (lowprof reads them):
 *   "pid N"                        CMD was exec'd, as process N
 *   "errno E"                      CMD could not be exec'd (E: errno of execvp); the helper exits 127
 *   "status S UT_US ST_US MAXRSS_KB"  CMD ended: wait status S, user and system CPU in microseconds, peak RSS in KiB
 * The forwarded signals (INT TERM HUP QUIT USR1 USR2) are ignored by the helper, so that a signal sent to
 * the process group reaches CMD once; CMD gets back the dispositions the helper was started with.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NSIG_FWD ((int)(sizeof forwarded / sizeof forwarded[0]))

static void say(int fd, const char *line) {
    size_t n = strlen(line);
    while (n > 0) {
        ssize_t w = write(fd, line, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* lowprof is gone: nothing to report to */
        }
        line += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: lowprof-spawn FD CMD [ARGS...]\n");
        return 2;
    }
    int fd = atoi(argv[1]);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        perror("lowprof-spawn: report fd");
        return 2;
    }
    struct sigaction old[NSIG_FWD], ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    for (int i = 0; i < NSIG_FWD; i++) sigaction(forwarded[i], &ign, &old[i]);

    int ep[2]; /* exec-status pipe: EOF means exec succeeded, else the child's errno */
    if (pipe2(ep, O_CLOEXEC) < 0) {
        perror("lowprof-spawn: pipe");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        char line[64];
        snprintf(line, sizeof line, "errno %d\n", errno);
        say(fd, line);
        return 127;
    }
    if (pid == 0) {
        for (int i = 0; i < NSIG_FWD; i++) sigaction(forwarded[i], &old[i], NULL);
        close(ep[0]);
        /* The workload's LD_PRELOAD (e.g. lowprof's allocator) reaches it, never this helper: lowprof passes
         * it as LOWPROF_SPAWN_LD_PRELOAD. */
        const char *preload = getenv("LOWPROF_SPAWN_LD_PRELOAD");
        if (preload) {
            if (setenv("LD_PRELOAD", preload, 1) < 0) _exit(127);
            unsetenv("LOWPROF_SPAWN_LD_PRELOAD");
        }
        execvp(argv[2], argv + 2);
        int e = errno;
        ssize_t r = write(ep[1], &e, sizeof e);
        (void)r;
        _exit(127);
    }
    close(ep[1]);
    int e = 0;
    ssize_t r;
    do r = read(ep[0], &e, sizeof e); while (r < 0 && errno == EINTR);
    close(ep[0]);
    char line[128];
    if (r == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        snprintf(line, sizeof line, "errno %d\n", e);
        say(fd, line);
        return 127;
    }
    snprintf(line, sizeof line, "pid %d\n", (int)pid);
    say(fd, line);

    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("lowprof-spawn: wait4");
            return 2;
        }
    }
    snprintf(line, sizeof line, "status %d %lld %lld %ld\n", status,
             (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
             (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss);
    say(fd, line);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
