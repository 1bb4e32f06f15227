"""Where this pynvme lives: its checkout (for the spool's default place and the git
commit a run was made with) and its version."""
import os

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # python/nvme


def checkout_root():
    """The project folder when nvme is imported from a checkout (python/nvme in a
    folder with a Makefile), else None (an installed package)."""
    root = os.path.dirname(os.path.dirname(PACKAGE_DIR))
    if os.path.isfile(os.path.join(root, "Makefile")) and \
            os.path.isdir(os.path.join(root, "python", "nvme")):
        return root
    return None


def default_spool_path(env=os.environ):
    """PYNVME_LAB_SPOOL, else build/lab/spool.sqlite in the checkout, else
    ~/.local/share/pynvme/lab/spool.sqlite."""
    if env.get("PYNVME_LAB_SPOOL"):
        return env["PYNVME_LAB_SPOOL"]
    root = checkout_root()
    if root:
        return os.path.join(root, "build", "lab", "spool.sqlite")
    data = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "pynvme", "lab", "spool.sqlite")


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def git_commit(root=None):
    """The commit checked out in the project, read from .git itself (the test bed's
    guest has no git), or None. Follows worktrees and packed refs."""
    root = root or checkout_root()
    if not root:
        return None
    gitdir = os.path.join(root, ".git")
    if os.path.isfile(gitdir):   # a worktree: "gitdir: /path/.git/worktrees/name"
        text = _read(gitdir) or ""
        if not text.startswith("gitdir:"):
            return None
        gitdir = os.path.join(root, text.split(":", 1)[1].strip())
    head = _read(os.path.join(gitdir, "HEAD"))
    if not head:
        return None
    if not head.startswith("ref:"):
        return head
    ref = head.split(":", 1)[1].strip()
    common = _read(os.path.join(gitdir, "commondir"))
    dirs = [gitdir] + ([os.path.normpath(os.path.join(gitdir, common))] if common else [])
    for d in dirs:
        sha = _read(os.path.join(d, ref))
        if sha:
            return sha
        packed = _read(os.path.join(d, "packed-refs")) or ""
        for line in packed.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def project_version():
    import nvme
    return getattr(nvme, "__version__", None)
