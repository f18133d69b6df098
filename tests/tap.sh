# shellcheck shell=bash
# The TAP writer of the shell suites (sourced; meson runs them with protocol: 'tap').
#   ok DESC / not_ok DESC     one numbered result
#   check DESC COMMAND...     runs COMMAND: ok, or not_ok with its output as comments
#   diag                      copies stdin as comment lines
#   skip_all REASON           the whole script is skipped: plan 1..0, exit 0 (meson reads
#                             a TAP test's non-zero exit, even 77, as an error)
#   finish                    the plan and a summary, once (call it at exit); fails when
#                             any result failed
# tap_failed counts the failures so far.
tap_n=0
tap_failed=0
tap_done=0
# (a description is one line: a newline in it, e.g. from a command's output, would be read
# as a line that is not TAP, and the whole test as an error)
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - ${*//$'\n'/ | }"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - ${*//$'\n'/ | }"; }
diag() { sed 's/^/# /'; }
check() {
    local desc=$1 out
    shift
    if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc"; printf '%s\n' "$out" | diag; fi
}
skip_all() {
    echo "1..0 # SKIP $*"
    tap_done=1
    exit 0
}
finish() {
    if [ "$tap_done" = 0 ]; then
        tap_done=1
        echo "1..$tap_n"
        echo "# $((tap_n - tap_failed)) passed, $tap_failed failed"
    fi
    [ "$tap_failed" = 0 ]
}
