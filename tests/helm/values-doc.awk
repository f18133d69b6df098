# Every key of values.yaml has a comment: on the lines right above it (no blank line in
# between) or at the end of its line. Entries of example lists (after "- ") are data,
# not knobs, and are skipped. Prints each undocumented key; exits 1 if any.
/^[[:space:]]*#/ { commented = 1; next }
/^[[:space:]]*$/ { commented = 0; next }
{
    match($0, /^ */); ind = RLENGTH
    if (inlist && ind > listind) next
    inlist = 0
    if ($0 ~ /^ *- /) { inlist = 1; listind = ind; commented = 0; next }
    if ($0 ~ /^ *[A-Za-z][A-Za-z0-9]*:/ && !commented && $0 !~ / # /) {
        printf "%s:%d: undocumented: %s\n", FILENAME, NR, $0
        bad = 1
    }
    commented = 0
}
END { exit bad }
