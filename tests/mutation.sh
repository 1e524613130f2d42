#!/usr/bin/env bash
# Mutation testing: plants small bugs in the code that guards the deployment, one at a time, and
# checks that the tests catch each one (cosmic-ray; tests/README.md#mutation-testing says why that
# tool, and what the figures are). Too slow for CI: it is not part of tests/run.sh.
#   bash tests/mutation.sh [--survivors] [TOOL...]
# TOOL: secure_domain moderators verify_auth shared components (default: all five, in that order).
# --survivors: test again only the mutants that survived the last run (after adding tests), but
# those judged equivalent (tests/mutation/equivalent.md); the tool's code must be unchanged.
# MUTATION_JOBS: mutants tested at once (default 2), each in a copy of the checkout of its own;
# --survivors takes as many as the last run had.
# MUTATION_SAMPLE=N: test N mutants drawn at random (seed MUTATION_SEED, default 14) instead of
# all, for a tool whose tests take minutes; the report then gives a 95 % interval for the whole.
# As root, like tests/run.sh, whose setup it runs first. Everything it writes is under
# MUTATION_WORK (default /var/tmp/jitsi-meet-gce-mutation); this checkout is never mutated.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work="${MUTATION_WORK:-/var/tmp/jitsi-meet-gce-mutation}"

survivors=false
if [ "${1:-}" = "--survivors" ]; then
  survivors=true
  shift
fi
tools=("$@")
# Mutants tested at once, each in its own copy of the checkout (most of a test's time is spent
# waiting on the subprocesses and servers it starts).
jobs="${MUTATION_JOBS:-2}"
if ((${#tools[@]} == 0)); then
  tools=(secure_domain moderators verify_auth shared components)
fi

# What each tool's mutants are tested against: the tests that exercise it, the in-process ones
# first, so that a mutant is usually caught in a second or two (pytest stops at the first
# failure, and collects a file named twice once).
# The suite's one test that runs the tools as a user would from a checkout, without
# PYTHONDONTWRITEBYTECODE (which this script sets): no byte code may land in scripts/.
BYTE_CODE_TEST=tests/test_program_graph.py::test_running_a_tool_from_a_checkout_leaves_no_byte_code
tests_for() {
  case "$1" in
    secure_domain)
      echo tests/test_secure_domain_lexers.py tests/test_secure_domain_rules.py \
        tests/test_secure_domain_command.py tests/test_secure_domain_*.py \
        tests/test_restart_services.py "$BYTE_CODE_TEST"
      ;;
    moderators) echo tests/test_moderator_units.py tests/test_moderator*.py ;;
    verify_auth)
      # After the units, one whole happy path per way in (straight, through nginx, check 8):
      # most mutants break it within seconds. Then everything else.
      echo tests/test_verify_auth_units.py tests/test_verify_auth_sasl.py \
        tests/test_verify_auth_bosh.py tests/test_verify_auth_websocket_errors.py \
        tests/test_verify_auth.py::test_secured_server_passes_every_check \
        tests/test_verify_auth_outside.py::test_secured_server_passes_every_check_from_outside \
        tests/test_verify_auth_bridges.py::test_the_filtered_room_with_enough_bridges_passes_check_8 \
        tests/test_verify_auth_websocket.py tests/test_verify_auth_reach.py \
        tests/test_verify_auth_outside.py tests/test_verify_auth*.py "$BYTE_CODE_TEST"
      ;;
    shared)
      echo tests/test_shared_configjs.py tests/test_secure_domain_lexers.py \
        tests/test_verify_auth_units.py tests/test_secure_domain_rules.py \
        tests/test_secure_domain_command.py tests/test_secure_domain_*.py
      ;;
    components) echo tests/test_program_*.py ;;
    *) return 1 ;;
  esac
}
module_for() {
  case "$1" in
    components) echo components ;;
    *) echo "scripts/$1" ;;
  esac
}
for tool in "${tools[@]}"; do
  tests_for "$tool" >/dev/null || { echo "unknown tool: $tool (see the first lines of $0)" >&2; exit 2; }
done

# The suite's own setup (Debian packages, the Prosody 13 root, .venv); then cosmic-ray in a
# virtualenv of its own, so that its dependencies never meet the program's.
bash tests/run.sh --setup-only
mkdir -p "$work"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
"$work/venv/bin/pip" install -q --disable-pip-version-check -r tests/mutation/requirements.txt
# Every prerequisite present, or the clean run below fails: with CI=true a missing one fails a
# test instead of skipping it, and a skipped test would kill no mutant.
export CI=true PYTHONDONTWRITEBYTECODE=1

for tool in "${tools[@]}"; do
  module=$(module_for "$tool")
  dir="$work/$tool"
  # shellcheck disable=SC2046 # the test files are a list of names
  tests=$(cd "$repo" && printf '%s ' $(tests_for "$tool"))
  # A fingerprint of the code under test: --survivors may only reuse a session of this code.
  code_hash=$(cd "$repo" && find "$module" -name '*.py' -not -path '*/__pycache__/*' -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  if $survivors && [ "$(cat "$dir/code.sha256" 2>/dev/null)" != "$code_hash" ]; then
    echo "--survivors: $module changed since the last run of $tool (or there was none): run it whole" >&2
    exit 2
  fi
  if $survivors; then
    # Every shard of the last run gets its own survivors tested again, whatever MUTATION_JOBS
    # says now: a shard left out would drop its survivors from the figures.
    jobs=$(find "$dir" -maxdepth 1 -name 'session-*.sqlite' | wc -l)
  fi
  # Copies of the whole checkout, one per shard, mutated in place: the tests run the tools as
  # subprocesses (python3 -B scripts/TOOL, chrooted into the Prosody 13 root too), so the
  # mutated file must be the one on disk under the copy's scripts/, which tests/support.py's
  # SCRIPTS points at. The upstream Jitsi files are read from ../shared beside each copy.
  for ((k = 0; k < jobs; k++)); do
    rm -rf "$dir/shard-$k"
    mkdir -p "$dir/shard-$k/main"
    tar -C "$repo" --exclude=./.venv --exclude=./.git --exclude=__pycache__ \
      --exclude=.pytest_cache -cf - . | tar -C "$dir/shard-$k/main" -xf -
    ln -s "$(cd "$repo/.." && pwd)/shared" "$dir/shard-$k/shared"
  done

  # Stop at the first failing test; pytest-timeout ends a mutant that hangs a test (its fixtures
  # then stop their servers) before cosmic-ray's own limit would kill pytest outright.
  command="$repo/.venv/bin/python -m pytest -x -q -p no:cacheprovider --timeout 120 $tests"
  echo "== $tool: the tests on the unmutated copy ($tests)"
  started=$SECONDS
  if ! (cd "$dir/shard-0/main" && $command >"$dir/clean-run.log" 2>&1); then
    tail -n 30 "$dir/clean-run.log" >&2
    echo "$tool: the tests fail without any mutant; fix that first ($dir/clean-run.log)" >&2
    exit 1
  fi
  limit=$(((SECONDS - started) * 3 + 60))
  cat >"$dir/cosmic-ray.toml" <<EOF
[cosmic-ray]
module-path = "$module"
timeout = $limit
excluded-modules = []
test-command = "$command"

[cosmic-ray.distributor]
name = "local"

# One mutant per kind of slip, not every operator for every other: a + becomes -, not also
# *, /, //, %, **, <<, >>, &, | and ^; == becomes != (not <, is, ...); a unary - is dropped.
# The left-out ones are caught by the same tests as the kept ones, or raise a TypeError at once.
[cosmic-ray.filters.operators-filter]
exclude-operators = [
  "core/ReplaceBinaryOperator_\\\\w+_(Mul|Div|FloorDiv|Mod|Pow|LShift|RShift|BitAnd|BitOr|BitXor)$",
  "core/ReplaceComparisonOperator_(Eq|NotEq)_(Lt|LtE|Gt|GtE|Is|IsNot)$",
  "core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE)_(Eq|NotEq|Is|IsNot)$",
  "core/ReplaceComparisonOperator_(Is|IsNot)_(Eq|NotEq|Lt|LtE|Gt|GtE)$",
  "core/ReplaceUnaryOperator_\\\\w+_(Not|Invert|UAdd)$",
]
EOF
  report=("$work/venv/bin/python" "$repo/tests/mutation/report.py")
  if $survivors; then
    "${report[@]}" --reset-survivors "$dir"/session-*.sqlite \
      --equivalent "$repo/tests/mutation/equivalent.md"
  else
    rm -f "$dir"/session*.sqlite
    (cd "$dir/shard-0/main" &&
      "$work/venv/bin/cosmic-ray" init "$dir/cosmic-ray.toml" "$dir/session.sqlite" &&
      "$work/venv/bin/cr-filter-operators" "$dir/session.sqlite" "$dir/cosmic-ray.toml")
    if [ -n "${MUTATION_SAMPLE:-}" ]; then
      "${report[@]}" --sample "$MUTATION_SAMPLE" "${MUTATION_SEED:-14}" "$dir/session.sqlite"
    fi
    for ((k = 0; k < jobs; k++)); do
      cp "$dir/session.sqlite" "$dir/session-$k.sqlite"
      "${report[@]}" --shard "$k" "$jobs" "$dir/session-$k.sqlite"
    done
    echo "$code_hash" >"$dir/code.sha256"
  fi
  echo "== $tool: testing each mutant of $module, $jobs at a time (limit ${limit} s each)"
  pids=()
  for ((k = 0; k < jobs; k++)); do
    (cd "$dir/shard-$k/main" &&
      "$work/venv/bin/cosmic-ray" exec "$dir/cosmic-ray.toml" "$dir/session-$k.sqlite") &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid"
  done
  "${report[@]}" "$dir"/session-*.sqlite --equivalent tests/mutation/equivalent.md \
    --tool "$tool" | tee "$dir/report.txt"
done
