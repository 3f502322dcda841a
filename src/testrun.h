/* testrun.h: `hookhost test`, offline tests of hook scripts.
 *
 *   hookhost test [--task-root DIR] [--timeout SECONDS] [PATH...]
 *
 * Runs every *_test.lua file under each PATH (a file, or a folder searched recursively; default:
 * tests/ under the task root). Each test runs as a job of the worker process, in a fresh Lua
 * state with the same library, sandbox and limits as a hook: the job's script is the library's
 * hookhost/testing_runner.lua, which loads the test file and runs one of the tests it registers
 * with hookhost.testing (lua/hookhost/testing.lua). A first job per file lists its tests, so a
 * test that loops, runs out of memory or crashes fails alone.
 *
 * Prints on stdout one line per test ("ok    file: name" or "FAIL  file: name", then the
 * failure's message indented), a failing line per file that does not load or registers no test,
 * and last "N passed, N failed". Logs go to stderr.
 *
 * Exit status: 0 every test passed, 1 a test failed or no test was found, 2 usage error (unknown
 * option, a PATH that does not exist, no library). `--help` prints the usage on stdout.
 */
#ifndef HOOKHOST_TESTRUN_H
#define HOOKHOST_TESTRUN_H

/* argv[0] is "test". Returns the exit status. */
int testrun_main(int argc, char **argv);

/* The most test files one run collects, and the most tests one file may register. */
#define TESTRUN_MAX_FILES 10000
#define TESTRUN_MAX_TESTS 10000

#endif
