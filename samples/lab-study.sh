#!/bin/sh
# samples/lab-study/: every test of the study catalogue that the lab can
# run, run for real against the lab at shortened timings
# (samples/lab-study-args.yaml), with its Rally JSON and report. The study
# folder is resumable: run this again after an interruption and it goes on
# where it stopped. From the repository root, after ./run demo or
# ./run test has set up .venv.
set -eu
cd "$(dirname "$0")/.."
PATH="$PWD/.venv/bin:$PATH"
# Rally's database and home of its own, as the demo has (out/ is ignored).
RALLY_HOME="$PWD/out/lab-study-rally"
mkdir -p "$RALLY_HOME"
export HOME="$RALLY_HOME"
export OS_DATABASE__CONNECTION="sqlite:///$RALLY_HOME/rally.sqlite"
rally db ensure >/dev/null
rally-osic lab up --services all
rally-osic lab env
if [ -f samples/lab-study/study.json ]; then
    rally-osic study run --resume samples/lab-study --pdf --settle 120
else
    rally-osic study run --all --env osic-lab --out samples/lab-study \
        --runs 1 --skip-unavailable \
        --task-args-file samples/lab-study-args.yaml \
        --pdf --settle 120
fi
