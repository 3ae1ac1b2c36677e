//! Rule cases for shell scripts, Dockerfiles and CI/container YAML.

/// (path, source, rule id that must fire, or "" for "nothing may fire").
pub const INFRA_CASES: &[(&str, &str, &str)] = &[
    // ---- shell / Dockerfile / YAML
    (
        "x.sh",
        "curl -fsSL https://get.example.com | sudo bash\n",
        "shell.curl-pipe-shell",
    ),
    (
        "x.sh",
        "curl -fsSL -o get.sh https://get.example.com\n# curl x | sh\n",
        "",
    ),
    ("x.sh", "curl -sk https://x/y -o y\n", "shell.insecure-tls"),
    ("x.sh", "curl -s https://x/y -o y-k\n", ""),
    ("x.sh", "OUT=/tmp/out.$$\n", "shell.insecure-temp-file"),
    ("x.sh", "OUT=$(mktemp)\n", ""),
    ("x.sh", "chmod -R a+w /srv\n", "shell.world-writable"),
    ("x.sh", "chmod 0755 /srv/bin\n", ""),
    ("x.sh", "eval \"$CMD\"\n", "shell.code-injection.eval"),
    ("x.sh", "echo eval is bad\n", ""),
    (
        "x.sh",
        "mysql -u root -pS3cretPass db\n",
        "shell.hardcoded-credentials",
    ),
    (
        "x.sh",
        "echo \"$TOKEN\" | docker login -u x --password-stdin\n",
        "",
    ),
    (
        "Dockerfile",
        "FROM alpine:3.20\nENV API_TOKEN=abcd1234efgh\n",
        "dockerfile.hardcoded-credentials",
    ),
    (
        "Dockerfile",
        "FROM alpine:3.20\nENV API_TOKEN_FILE=/run/secrets/t\n",
        "",
    ),
    (
        "Dockerfile",
        "FROM alpine:3.20\nADD https://x/y.tgz /opt/\n",
        "dockerfile.unverified-download",
    ),
    (
        "Dockerfile",
        "FROM alpine:3.20\nADD --checksum=sha256:00 https://x/y.tgz /opt/\n",
        "",
    ),
    (
        "Dockerfile",
        "FROM alpine:3.20\nUSER root\n",
        "dockerfile.runs-as-root",
    ),
    ("Dockerfile", "FROM alpine:3.20\nUSER 10001\n", ""),
    ("Dockerfile", "FROM alpine\n", "dockerfile.unpinned-image"),
    ("Dockerfile", "FROM alpine:3.20@sha256:abc\n", ""),
    (
        "ci/build.sh",
        "echo \"token is $GITHUB_TOKEN\"\n",
        "secret-in-log",
    ),
    (
        "ci/build.sh",
        "echo \"$GITHUB_TOKEN\" | gh auth login --with-token\n",
        "",
    ),
    (
        "k8s/pod.yaml",
        "spec:\n  containers:\n    - image: nginx:latest\n",
        "container.unpinned-image",
    ),
    (
        "k8s/pod.yaml",
        "spec:\n  containers:\n    - image: nginx:1.27.2\n",
        "",
    ),
    (
        "compose.yml",
        "services:\n  a:\n    privileged: true\n",
        "container.privileged",
    ),
    (
        "compose.yml",
        "services:\n  a:\n    privileged: false\n",
        "",
    ),
    (
        "run.sh",
        "docker run --privileged img\n",
        "shell.privileged-container",
    ),
    ("run.sh", "docker run img\n", ""),
    (
        "k8s/pod.yaml",
        "securityContext:\n  allowPrivilegeEscalation: true\n",
        "container.privilege-escalation",
    ),
    (
        "k8s/pod.yaml",
        "securityContext:\n  allowPrivilegeEscalation: false\n",
        "",
    ),
    (
        "k8s/pod.yaml",
        "securityContext:\n  runAsUser: 0\n",
        "container.runs-as-root",
    ),
    ("k8s/pod.yaml", "securityContext:\n  runAsUser: 1000\n", ""),
    (
        "k8s/pod.yaml",
        "spec:\n  hostPID: true\n",
        "container.host-namespace",
    ),
    ("k8s/pod.yaml", "spec:\n  hostPID: false\n", ""),
    (
        "compose.yml",
        "services:\n  a:\n    network_mode: host\n",
        "container.host-network",
    ),
    (
        "compose.yml",
        "services:\n  a:\n    network_mode: bridge\n",
        "",
    ),
    (
        "compose.yml",
        "services:\n  a:\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n",
        "container.docker-socket-mount",
    ),
    (
        "compose.yml",
        "services:\n  a:\n    volumes:\n      - ./data:/data\n",
        "",
    ),
    (
        "compose.yml",
        "services:\n  a:\n    cap_add:\n      - CHOWN\n      - SYS_ADMIN\n",
        "container.dangerous-capability",
    ),
    ("k8s/pod.yaml", "capabilities:\n  drop:\n    - ALL\n", ""),
    (
        "k8s/pod.yaml",
        "capabilities:\n  add: [\"NET_ADMIN\"]\n",
        "container.dangerous-capability.inline",
    ),
    ("compose.yml", "services:\n  a:\n    cap_drop: [ALL]\n", ""),
    (
        "k8s/pod.yaml",
        "volumes:\n  - name: h\n    hostPath:\n      path: /\n",
        "container.host-path-root",
    ),
    (
        "k8s/pod.yaml",
        "volumes:\n  - name: h\n    hostPath:\n      path: /var/log\n",
        "",
    ),
    (
        "compose.yml",
        "services:\n  a:\n    volumes:\n      - /:/host\n",
        "container.host-path-root.inline",
    ),
    (
        ".github/workflows/a.yml",
        "on:\n  pull_request_target:\n",
        "github-actions.pull-request-target",
    ),
    (".github/workflows/a.yml", "on:\n  pull_request:\n", ""),
    (
        ".github/workflows/a.yml",
        "permissions: write-all\n",
        "github-actions.excessive-permissions",
    ),
    (
        ".github/workflows/a.yml",
        "permissions:\n  contents: read\n",
        "",
    ),
    (
        ".github/workflows/a.yml",
        "steps:\n  - uses: someone/action@v2\n",
        "github-actions.unpinned-action",
    ),
    (
        ".github/workflows/a.yml",
        "steps:\n  - uses: someone/action@0123456789abcdef0123456789abcdef01234567\n  - uses: actions/checkout@v4\n",
        "",
    ),
    (
        ".github/workflows/a.yml",
        "env:\n  ACTIONS_ALLOW_UNSECURE_COMMANDS: true\n",
        "github-actions.unsecure-commands",
    ),
    (
        ".github/workflows/a.yml",
        "env:\n  ACTIONS_ALLOW_UNSECURE_COMMANDS: false\n",
        "",
    ),
    (
        ".github/workflows/a.yml",
        "steps:\n  - run: echo \"${{ github.event.issue.title }}\"\n",
        "github-actions.script-injection",
    ),
    (
        ".github/workflows/a.yml",
        "on: pull_request_target\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n",
        "github-actions.checkout-untrusted-code",
    ),
];
