# The closing lines of a CI log (colours stripped): the failed suites, each failed test with
# the first lines of its message, then the sum of every Jest project's "Tests:" line.
# A failed test is headed "● <describe> › <test>" (a console block is "● Console"): named
# again at the end, so the last lines of a long log say what failed.
/● .* › / {
  sub(/^[[:space:]]+/, "")
  failures[++count] = $0
  # The first lines of its message (once per test: Jest repeats failures in its summary).
  detail = ($0 in detailed) ? 0 : count
  detailed[$0] = 1; detailLines = 0
  next
}
# Another block, the result of a suite or the totals end a message.
/● |Tests:|(PASS|FAIL) / { detail = 0 }
detail && detailLines < 12 && NF > 1 {
  line = $0; sub(/^[a-z0-9-]+:[[:space:]]*/, "", line)
  details[detail] = details[detail] "\n      " line; detailLines++
}
/(^|: )[[:space:]]*FAIL / { sub(/^[[:space:]]+/, ""); suites[++suiteCount] = $0 }
/Tests:/ {
  for (i = 1; i <= NF; i++) {
    if ($(i + 1) ~ /^passed/) passed += $i
    if ($(i + 1) ~ /^failed/) failed += $i
    if ($(i + 1) ~ /^skipped/) skipped += $i
  }
}
END {
  for (i = 1; i <= suiteCount; i++) print suites[i]
  for (i = 1; i <= count; i++) print "  failed: " failures[i] details[i]
  printf "Tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped
}
