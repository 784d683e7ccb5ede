#!/usr/bin/env python3
"""Engines, metadata.json's engine facts, info and rootfs-diff/ through a real mount.

usage: engines_check.py CKFS_BINARY PODMAN_TAR CRIU_TAR REFERENCE_DIR STATS_PROTO

PODMAN_TAR is tests/fixtures/podman-counter.none.tar (a real Podman 5.4 export),
CRIU_TAR a plain `criu dump` fixture with sockets (tests/fixtures/criu-ckpt-test.tar),
REFERENCE_DIR tests/fixtures/reference/podman-counter.none.tar (checkpointctl's
`inspect --all` output for PODMAN_TAR, as text and JSON), STATS_PROTO proto/stats.proto.

The CRI-O and containerd archives checked here are SYNTHETIC LAYOUTS AROUND REAL
CRIU IMAGES: no CRI-O or containerd >= 2.0 is available to make real ones (see
tests/fixtures/README.md). They are built at test time, in a private temporary
directory, from the real CRIU image set under PODMAN_TAR's checkpoint/ (and its
real stats-dump), plus engine files in the shapes the engines' sources write
(checkpointctl.md §2.5; CRI-O internal/lib/checkpoint.go, containerd
internal/cri/server/container_checkpoint_linux.go):

  CRI-O       uncompressed tar: checkpoint/, config.dump (checkpointctl's
              ContainerConfig JSON), spec.dump (OCI spec whose annotations hold
              io.container.manager=cri-o and io.kubernetes.cri-o.* keys, with
              Metadata {"name":...}, Labels and Annotations as JSON strings and
              Volumes as a JSON array), bind.mounts, the container log under the
              member name io.kubernetes.cri-o.LogPath, dump.log, stats-dump,
              rootfs-diff.tar (plain tar) and deleted.files.
  containerd  uncompressed tar: checkpoint/, config.dump, spec.dump with
              io.kubernetes.cri.* annotations and no io.container.manager,
              status.dump (CRI ContainerStatus JSON), status (containerd's own
              status JSON), container.log, dump.log, stats-dump, and
              rootfs-diff.tar GZIP-compressed despite its name, with OCI
              whiteouts (.wh.<name>, .wh..wh..opq) inside and no deleted.files.
The JSON values (ids, names, times) are made up; the CRIU images are not.

`info` is compared line by line with checkpointctl-inspect-all.txt. Intentional
differences, none of which shows on the Podman fixture:
  - checkpointctl's output around the tree (an empty line, "Displaying container
    checkpoint tree view from <path>", an empty line; one empty line after) is
    not in info, which starts with the container name;
  - environment variables keep the task's environ order, annotations and the
    keys of CRI-O's JSON annotations are sorted (checkpointctl: Go map order);
  - whole-number times keep their zeros ("10 ms", checkpointctl says "1 ms");
  - sockets: IPv6 right, "UNIX (<type>)", PACKET/NETLINK named so;
  - a plain CRIU dump gets a tree (root "Container", Engine: criu).

Each check prints `ok - WHAT` or `not ok - WHAT: DETAIL`; the last line is
`N passed, N failed`. Exit status: 0 all passed, 1 something failed, 77 FUSE is
not usable here (skip), 2 usage error.
"""

import errno
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lib_mount  # noqa: E402

MOUNT_TIMEOUT = 10.0
OVERALL_TIMEOUT = 150.0
MTIME = 1795930000  # 2026-11-28: the synthetic members' mtime


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, fn, *args):
        """fn(*args) returns None to pass or a string saying what is wrong."""
        try:
            detail = fn(*args)
        except Exception as e:  # one broken check must not stop the others
            detail = "%s: %s" % (type(e).__name__, e)
        if detail is None:
            self.passed += 1
            print("ok - %s" % what, flush=True)
        else:
            self.failed += 1
            detail = " ".join(str(detail).split("\n"))
            print("not ok - %s: %s" % (what, detail[:800]), flush=True)

    def note(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)


def differ(got, expected):
    if got == expected:
        return None
    return "got %r, expected %r" % (got, expected)


def subset(ref, got, path="$"):
    """None if every value in `ref` is in `got` (dicts: keys; lists: same
    length, element by element), else where the first difference is."""
    if isinstance(ref, dict):
        if not isinstance(got, dict):
            return "%s: got %r, expected an object" % (path, got)
        for k, v in ref.items():
            if k not in got:
                return "%s.%s: missing" % (path, k)
            d = subset(v, got[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(ref, list):
        if not isinstance(got, list) or len(got) != len(ref):
            return "%s: got %r, expected %r" % (path, got, ref)
        for i, (r, g) in enumerate(zip(ref, got)):
            d = subset(r, g, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if ref == got else "%s: got %r, expected %r" % (path, got, ref)


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def meta_of(mnt):
    return json.loads(read(os.path.join(mnt, "metadata.json")))


def walk(top):
    """Every path under `top`, relative, without following links."""
    out = []
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            out.append(os.path.relpath(os.path.join(root, name), top))
    return sorted(out)


def expect_eio(fn):
    try:
        fn()
    except OSError as e:
        return None if e.errno == errno.EIO else "errno %d, expected EIO" % e.errno
    return "succeeded, expected EIO"


# ------------------------------------------------------ synthetic archives

def add_bytes(tar, name, data, mode=0o600, kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.mode = mode
    ti.mtime = MTIME
    ti.type = kind
    ti.linkname = link
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    else:
        tar.addfile(ti)


def add_json(tar, name, obj, indent=None):
    add_bytes(tar, name, json.dumps(obj, indent=indent).encode())


def copy_criu_images(src, tar):
    """The real checkpoint/ directory and stats-dump of the Podman fixture."""
    with tarfile.open(src) as s:
        for ti in s.getmembers():
            if ti.name == "checkpoint" or ti.name.startswith("checkpoint/"):
                tar.addfile(ti, s.extractfile(ti) if ti.isfile() else None)
            elif ti.name == "stats-dump":
                tar.addfile(ti, s.extractfile(ti))


DUMP_LOG = b"(00.000000) Version: 4.2.1 (synthetic dump.log of a test archive)\n" \
           b"(00.142847) Dumping finished successfully\n"

CRIO = {
    "id": "1a2b3c4d5e6f" * 5 + "7a8b",
    "pod": "counters", "namespace": "default",
    "pod_uid": "5f0e9c1c-3c53-4b8e-9d2c-6f1c2a7b9e01",
    "sandbox": "9f8e7d6c5b4a" * 5 + "3a2b",
    "image": "docker.io/library/busybox:latest",
    "image_ref": "db27a1acbd48cccc2f1b602efd9905a077dde912e7219a954bb4776276ae8384",
    "created": "2026-11-28T10:00:00.123456789Z",
    "log_path": "/var/log/pods/default_counters_5f0e9c1c/counter/0.log",
}


def crio_spec():
    p = CRIO
    labels = {"io.kubernetes.container.name": "counter",
              "io.kubernetes.pod.name": p["pod"],
              "io.kubernetes.pod.namespace": p["namespace"],
              "io.kubernetes.pod.uid": p["pod_uid"]}
    pod_ann = {"kubernetes.io/config.seen": "2026-11-28T09:59:58.000000000Z",
               "kubernetes.io/config.source": "api"}
    volumes = [{"container_path": "/etc/hosts",
                "host_path": "/var/lib/kubelet/pods/5f0e9c1c/etc-hosts"},
               {"container_path": "/data", "host_path": "/srv/data",
                "readonly": True, "propagation": 1}]
    ann = {
        "io.container.manager": "cri-o",
        "io.kubernetes.container.hash": "6f8b5c1a",
        "io.kubernetes.container.restartCount": "0",
        "io.kubernetes.cri-o.Annotations": json.dumps(pod_ann),
        "io.kubernetes.cri-o.ContainerID": p["id"],
        "io.kubernetes.cri-o.ContainerType": "container",
        "io.kubernetes.cri-o.Created": p["created"],
        "io.kubernetes.cri-o.IP.0": "10.85.0.7",
        "io.kubernetes.cri-o.Image": p["image_ref"],
        "io.kubernetes.cri-o.ImageName": p["image"],
        "io.kubernetes.cri-o.ImageRef": p["image_ref"],
        "io.kubernetes.cri-o.Labels": json.dumps(labels),
        "io.kubernetes.cri-o.LogPath": p["log_path"],
        "io.kubernetes.cri-o.Metadata": json.dumps({"name": "counter"}),
        "io.kubernetes.cri-o.Name": "k8s_counter_counters_default_5f0e9c1c_0",
        "io.kubernetes.cri-o.SandboxID": p["sandbox"],
        "io.kubernetes.cri-o.SandboxName": "k8s_counters_default_5f0e9c1c_0",
        "io.kubernetes.cri-o.Volumes": json.dumps(volumes),
        "io.kubernetes.pod.name": p["pod"],
        "io.kubernetes.pod.namespace": p["namespace"],
        "io.kubernetes.pod.terminationGracePeriod": "30",
        "io.kubernetes.pod.uid": p["pod_uid"],
    }
    mounts = [{"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]},
              {"destination": "/etc/hosts", "type": "bind",
               "source": "/var/lib/kubelet/pods/5f0e9c1c/etc-hosts",
               "options": ["rbind", "rprivate", "rw"]}]
    return {"ociVersion": "1.0.2-dev", "process": {"args": ["sh"]},
            "root": {"path": "/var/lib/containers/storage/overlay/x/merged"},
            "hostname": p["pod"], "mounts": mounts, "annotations": ann,
            "linux": {}}, labels, pod_ann, volumes


def build_crio(src, path):
    spec, labels, pod_ann, volumes = crio_spec()
    config = {"id": CRIO["id"], "name": "k8s_counter_counters_default_5f0e9c1c_0",
              "rootfsImage": CRIO["image"], "rootfsImageRef": CRIO["image_ref"],
              "rootfsImageName": CRIO["image"], "runtime": "runc",
              "createdTime": "2026-11-28T10:00:00.123456789Z",
              "checkpointedTime": "2026-11-28T10:05:00.5Z",
              "restoredTime": "0001-01-01T00:00:00Z", "restored": False}
    bind = [{"source": "/var/lib/kubelet/pods/5f0e9c1c/etc-hosts",
             "destination": "/etc/hosts", "file_type": "file",
             "permissions": 420}]
    diff = io.BytesIO()
    with tarfile.open(fileobj=diff, mode="w", format=tarfile.PAX_FORMAT) as t:
        add_bytes(t, "etc", b"", 0o755, tarfile.DIRTYPE)
        add_bytes(t, "etc/crio-note.txt", b"written inside a CRI-O pod\n", 0o640)
        add_bytes(t, "etc/note-link", b"", 0o777, tarfile.SYMTYPE, "crio-note.txt")
        add_bytes(t, "etc/abs-link", b"", 0o777, tarfile.SYMTYPE, "/bin/busybox")
        add_bytes(t, "var/lib/app/state.bin", bytes(range(256)) * 64, 0o600)
    log = b"2026-11-28T10:00:01.000000000+00:00 stdout F 0\n" \
          b"2026-11-28T10:00:02.000000000+00:00 stdout F 1\n"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, ".", b"", 0o700, tarfile.DIRTYPE)  # IncludeSourceDir
        copy_criu_images(src, tar)
        add_json(tar, "config.dump", config, indent=2)
        add_json(tar, "spec.dump", spec, indent=2)
        add_json(tar, "bind.mounts", bind, indent=2)
        add_bytes(tar, "dump.log", DUMP_LOG)
        add_bytes(tar, "io.kubernetes.cri-o.LogPath", log)
        add_bytes(tar, "rootfs-diff.tar", diff.getvalue(), 0o644)
        add_json(tar, "deleted.files", ["/etc/motd", "/tmp/gone"])
    os.chmod(path, 0o600)
    return {"spec": spec, "labels": labels, "pod_ann": pod_ann,
            "volumes": volumes, "bind": bind, "config": config,
            "diff": diff.getvalue(), "log": log}


CTRD = {"id": "c0ffee00" * 8, "sandbox": "5a4db0c5" * 8,
        "image": "docker.io/library/busybox:latest",
        "image_ref": "docker.io/library/busybox@sha256:" + "ab" * 32,
        "started_ns": 1795917601000000000}


def build_containerd(src, path):
    ann = {"io.kubernetes.cri.container-name": "counter",
           "io.kubernetes.cri.container-type": "container",
           "io.kubernetes.cri.image-name": CTRD["image"],
           "io.kubernetes.cri.sandbox-id": CTRD["sandbox"],
           "io.kubernetes.cri.sandbox-name": "counters",
           "io.kubernetes.cri.sandbox-namespace": "prod",
           "io.kubernetes.cri.sandbox-uid": "0b6f5a8e-1111-4222-8333-944455556666"}
    spec = {"ociVersion": "1.1.0", "process": {"args": ["sh"]},
            "root": {"path": "rootfs"}, "annotations": ann,
            "mounts": [{"destination": "/proc", "type": "proc",
                        "source": "proc", "options": ["nosuid"]}]}
    config = {"id": CTRD["id"], "name": "counter",
              "rootfsImage": CTRD["image"], "rootfsImageRef": CTRD["image_ref"],
              "rootfsImageName": CTRD["image"], "runtime": "io.containerd.runc.v2",
              "createdTime": "2026-11-28T11:00:00.25Z",
              "checkpointedTime": "2026-11-28T11:30:00Z",
              "restoredTime": "0001-01-01T00:00:00Z", "restored": False}
    status_dump = {"id": CTRD["id"], "metadata": {"name": "counter", "attempt": 2},
                   "state": 1, "created_at": 1795916400250000000,
                   "started_at": CTRD["started_ns"], "exit_code": 0,
                   "image": {"image": CTRD["image"]}, "image_ref": CTRD["image_ref"],
                   "labels": {"io.kubernetes.container.name": "counter"},
                   "annotations": {"io.kubernetes.container.hash": "1234abcd"},
                   "log_path": "/var/log/pods/prod_counters_0b6f5a8e/counter/2.log"}
    status = {"Pid": 4242, "CreatedAt": 1795916400250000000,
              "StartedAt": CTRD["started_ns"], "FinishedAt": 0, "ExitCode": 0,
              "Reason": "", "Message": ""}
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
        add_bytes(t, "etc/", b"", 0o755, tarfile.DIRTYPE)
        add_bytes(t, "etc/.wh.group", b"", 0o600)
        add_bytes(t, "root/", b"", 0o700, tarfile.DIRTYPE)
        add_bytes(t, "root/ctrd-note.txt", b"written inside a containerd pod\n", 0o644)
        add_bytes(t, "root/hard", b"", 0o644, tarfile.LNKTYPE, "root/ctrd-note.txt")
        add_bytes(t, "var/cache/", b"", 0o755, tarfile.DIRTYPE)
        add_bytes(t, "var/cache/.wh..wh..opq", b"", 0o600)
        add_bytes(t, "var/cache/fresh.txt", b"fresh\n", 0o644)
    gz = gzip.compress(layer.getvalue(), mtime=0)
    log = b"2026-11-28T11:00:01.000000000Z stdout F hello\n"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        add_bytes(tar, "checkpoint", b"", 0o700, tarfile.DIRTYPE)
        copy_criu_images(src, tar)
        add_json(tar, "config.dump", config)
        add_json(tar, "spec.dump", spec)
        add_json(tar, "status.dump", status_dump)
        add_json(tar, "status", status)
        add_bytes(tar, "container.log", log)
        add_bytes(tar, "dump.log", DUMP_LOG)
        add_bytes(tar, "rootfs-diff.tar", gz, 0o600)
    os.chmod(path, 0o600)
    return {"spec": spec, "config": config, "layer": layer.getvalue(),
            "status_dump": status_dump, "status": status}


# ---------------------------------------------------------------- checks

def check_info_vs_reference(report, mnt, ref_txt):
    ref = read(ref_txt, "r").split("\n")
    # checkpointctl prints "\nDisplaying ... from <path>\n\n" + tree + "\n\n"
    if len(ref) < 5 or ref[0] != "" or not ref[1].startswith(
            "Displaying container checkpoint tree view from ") or ref[2] != "":
        report.check("info: reference layout", lambda: "unexpected heading %r" % ref[:3])
        return
    want = ref[3:]
    while want and want[-1] == "":
        want.pop()
    got = read(os.path.join(mnt, "info"), "r").split("\n")
    report.check("info ends with one newline",
                 lambda: None if got[-1] == "" and got[-2] != "" else
                 "ends with %r" % got[-3:])
    got = got[:-1]

    def lines():
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return "line %d: got %r, expected %r" % (i + 1, g, w)
        return differ(len(got), len(want))
    report.check("info equals checkpointctl inspect --all, line by line "
                 "(%d lines; only its heading and blank lines left out)" % len(want),
                 lines)


def check_podman(report, ckfs, archive, ref_dir, stats_fields):
    with tarfile.open(archive) as t:
        spec = json.load(t.extractfile("spec.dump"))
        deleted = json.load(t.extractfile("deleted.files"))
        diff = t.extractfile("rootfs-diff.tar").read()
    with tarfile.open(fileobj=io.BytesIO(diff)) as d:
        note = d.getmember("root/fx-note.txt")
        note_bytes = d.extractfile(note).read()
    ref_json = json.loads(read(os.path.join(ref_dir, "checkpointctl-inspect-all.json")))[0]

    with lib_mount.mounted(ckfs, archive, MOUNT_TIMEOUT) as mnt:
        meta = meta_of(mnt)
        report.check("podman: engine Podman",
                     lambda: differ(meta.get("engine"), "Podman"))
        report.check("podman: engine_evidence lists the Podman-only members",
                     lambda: differ(meta.get("engine_evidence"),
                                    ["artifacts/", "ctr.log",
                                     "devshm-checkpoint.tar", "network.status"]))
        report.check("podman: the members confirm the annotation",
                     lambda: differ((meta["engine_detection"].get("annotation"),
                                     meta["engine_detection"].get("by_members"),
                                     meta["engine_detection"].get("confirmed")),
                                    ("libpod", "Podman", True)))
        report.check("podman: checkpointctl's JSON fields are unchanged",
                     lambda: subset(ref_json, meta))
        report.check("podman: criu_dump_statistics has every stats.proto counter",
                     lambda: differ(sorted(meta.get("criu_dump_statistics", {})),
                                    sorted(stats_fields)))
        report.check("podman: criu_dump_statistics agrees with checkpointctl",
                     lambda: subset(ref_json["statistics"],
                                    meta["criu_dump_statistics"]))
        report.check("podman: inventory facts (image version, lsm, root ns ids, "
                     "plugins, run id)",
                     lambda: differ(sorted(k for k in ("image_version", "lsm",
                                                       "root_ns_ids", "plugins",
                                                       "dump_run_id")
                                           if k in meta.get("criu", {})),
                                    sorted(("image_version", "lsm", "root_ns_ids",
                                            "plugins", "dump_run_id"))))
        report.check("podman: oci_mounts is spec.dump's mounts",
                     lambda: differ(meta.get("oci_mounts"), spec["mounts"]))
        report.check("podman: annotations are spec.dump's",
                     lambda: differ(meta.get("annotations"), spec["annotations"]))
        report.check("podman: log member ctr.log",
                     lambda: differ(meta.get("log_member"), "ctr.log"))
        report.check("podman: container, image_details, times",
                     lambda: differ((meta["container"]["name"],
                                     meta["image_details"]["name"],
                                     meta["times"]["created"][:19]),
                                    ("podman-counter",
                                     "localhost/fx-busybox:latest",
                                     "2026-11-29T05:36:50")))

        rd = os.path.join(mnt, "rootfs-diff")
        report.check("podman: rootfs-diff/ lists the file the container wrote",
                     lambda: differ(walk(rd), ["root", "root/fx-note.txt"]))
        report.check("podman: rootfs-diff/root/fx-note.txt bytes equal the "
                     "rootfs-diff.tar member",
                     lambda: differ(read(os.path.join(rd, "root/fx-note.txt")),
                                    note_bytes))

        def attrs():
            st = os.lstat(os.path.join(rd, "root/fx-note.txt"))
            return differ((stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                           st.st_size, int(st.st_mtime)),
                          (stat.S_IFREG, note.mode, note.size, int(note.mtime)))
        report.check("podman: fx-note.txt mode, size and mtime as in the tar", attrs)
        report.check("podman: rootfs-diff.deleted lists the removed file",
                     lambda: differ(read(os.path.join(mnt, "rootfs-diff.deleted"), "r"),
                                    "".join(p + "\n" for p in sorted(deleted))))
        report.check("podman: deleted.files holds /etc/group",
                     lambda: differ(deleted, ["/etc/group"]))
        report.check("podman: metadata rootfs_diff summary",
                     lambda: differ((meta["rootfs_diff"]["compression"],
                                     meta["rootfs_diff"]["entries"],
                                     meta["rootfs_diff"]["deleted"]),
                                    ("none", 1, ["/etc/group"])))
        check_info_vs_reference(report, mnt,
                                os.path.join(ref_dir, "checkpointctl-inspect-all.txt"))
    return mnt


def check_crio(report, ckfs, src, tmp):
    path = os.path.join(tmp, "checkpoint-counters_default-counter-2026-11-28T10:05:00Z.tar")
    exp = build_crio(src, path)
    with tarfile.open(fileobj=io.BytesIO(exp["diff"])) as d:
        state = d.extractfile("var/lib/app/state.bin").read()
    with lib_mount.mounted(ckfs, path, MOUNT_TIMEOUT) as mnt:
        meta = meta_of(mnt)
        report.check("cri-o: engine CRI-O",
                     lambda: differ(meta.get("engine"), "CRI-O"))
        report.check("cri-o: evidence bind.mounts and the LogPath member, confirmed",
                     lambda: differ((meta.get("engine_evidence"),
                                     meta["engine_detection"].get("confirmed")),
                                    (["bind.mounts", "io.kubernetes.cri-o.LogPath"],
                                     True)))
        report.check("cri-o: container name from io.kubernetes.cri-o.Metadata",
                     lambda: differ((meta.get("container_name"),
                                     meta["container"]["name"]),
                                    ("counter", "counter")))
        report.check("cri-o: pod and namespace",
                     lambda: differ((meta["metadata"].get("pod_name"),
                                     meta["metadata"].get("kubernetes_namespace"),
                                     meta["pod"].get("name"),
                                     meta["pod"].get("namespace"),
                                     meta["pod"].get("uid"),
                                     meta["pod"].get("sandbox_id")),
                                    (CRIO["pod"], CRIO["namespace"], CRIO["pod"],
                                     CRIO["namespace"], CRIO["pod_uid"],
                                     CRIO["sandbox"])))
        report.check("cri-o: image name, ref, runtime, created, checkpointed, IP",
                     lambda: differ((meta.get("image"),
                                     meta["image_details"].get("ref"),
                                     meta.get("runtime"), meta.get("created"),
                                     meta.get("checkpointed"), meta.get("ip")),
                                    (CRIO["image"], CRIO["image_ref"], "runc",
                                     CRIO["created"], "2026-11-28T10:05:00Z",
                                     "10.85.0.7")))
        ann = meta.get("annotations", {})
        report.check("cri-o: Labels, Annotations, Metadata annotations parsed",
                     lambda: differ((ann.get("io.kubernetes.cri-o.Labels"),
                                     ann.get("io.kubernetes.cri-o.Annotations"),
                                     ann.get("io.kubernetes.cri-o.Metadata")),
                                    (exp["labels"], exp["pod_ann"],
                                     {"name": "counter"})))
        report.check("cri-o: Volumes annotation parsed",
                     lambda: differ(ann.get("io.kubernetes.cri-o.Volumes"),
                                    exp["volumes"]))
        report.check("cri-o: plain annotations kept as strings",
                     lambda: differ(ann.get("io.kubernetes.pod.terminationGracePeriod"),
                                    "30"))
        report.check("cri-o: bind_mounts is bind.mounts",
                     lambda: differ(meta.get("bind_mounts"), exp["bind"]))
        report.check("cri-o: log member and original log path",
                     lambda: differ((meta.get("log_member"), meta.get("log_path")),
                                    ("io.kubernetes.cri-o.LogPath", CRIO["log_path"])))
        report.check("cri-o: oci_mounts is spec.dump's mounts",
                     lambda: differ(meta.get("oci_mounts"), exp["spec"]["mounts"]))
        report.check("cri-o: the real CRIU images still give proc/1 and proc/5",
                     lambda: differ(sorted(os.listdir(os.path.join(mnt, "proc"))),
                                    ["1", "5"]))

        rd = os.path.join(mnt, "rootfs-diff")
        report.check("cri-o: rootfs-diff/ lists the layer",
                     lambda: differ(walk(rd), ["etc", "etc/abs-link",
                                               "etc/crio-note.txt", "etc/note-link",
                                               "var", "var/lib", "var/lib/app",
                                               "var/lib/app/state.bin"]))
        report.check("cri-o: rootfs-diff file bytes",
                     lambda: differ(read(os.path.join(rd, "var/lib/app/state.bin")),
                                    state))
        report.check("cri-o: rootfs-diff modes (0640 file, 0755 dir)",
                     lambda: differ((stat.S_IMODE(os.lstat(os.path.join(
                         rd, "etc/crio-note.txt")).st_mode),
                         stat.S_IMODE(os.lstat(os.path.join(rd, "etc")).st_mode)),
                         (0o640, 0o755)))
        report.check("cri-o: a symlink inside the tree reads as stored",
                     lambda: differ(os.readlink(os.path.join(rd, "etc/note-link")),
                                    "crio-note.txt"))
        report.check("cri-o: an absolute symlink reads as EIO (never followed)",
                     lambda: expect_eio(lambda: os.readlink(
                         os.path.join(rd, "etc/abs-link"))))
        report.check("cri-o: rootfs-diff.deleted from deleted.files",
                     lambda: differ(read(os.path.join(mnt, "rootfs-diff.deleted"), "r"),
                                    "/etc/motd\n/tmp/gone\n"))

        info = read(os.path.join(mnt, "info"), "r").split("\n")
        want = ["counter", "├── Engine: CRI-O", "├── IP: 10.85.0.7",
                "├── Checkpointed: 2026-11-28T10:05:00Z",
                "│   ├── Pod name: counters",
                "│   ├── Kubernetes namespace: default",
                "│       ├── io.kubernetes.cri-o.Labels",
                "│       │   ├── io.kubernetes.container.name: counter",
                "│       ├── io.kubernetes.cri-o.Metadata",
                "│       │   └── name: counter",
                "│       │   └── /data",
                "│       │       ├── host path: /srv/data",
                "│       │       ├── read-only: true",
                "│       │       └── propagation: 1",
                "│       ├── io.kubernetes.pod.name: counters"]
        report.check("cri-o: info has the engine, pod and parsed annotation lines",
                     lambda: differ([w for w in want if w not in info], []))
    return mnt


def check_containerd(report, ckfs, src, tmp):
    path = os.path.join(tmp, "checkpoint-counters_prod-counter-2026-11-28T11:30:00Z.tar")
    exp = build_containerd(src, path)
    with tarfile.open(fileobj=io.BytesIO(exp["layer"])) as d:
        note = d.extractfile("root/ctrd-note.txt").read()
    with lib_mount.mounted(ckfs, path, MOUNT_TIMEOUT) as mnt:
        meta = meta_of(mnt)
        report.check("containerd: engine containerd (no io.container.manager)",
                     lambda: differ((meta.get("engine"),
                                     meta["engine_detection"].get("annotation")),
                                    ("containerd", None)))
        report.check("containerd: evidence status.dump, status, container.log, "
                     "confirmed",
                     lambda: differ((meta.get("engine_evidence"),
                                     meta["engine_detection"].get("confirmed")),
                                    (["container.log", "status", "status.dump"], True)))
        report.check("containerd: container name, pod, namespace",
                     lambda: differ((meta.get("container_name"),
                                     meta["metadata"].get("pod_name"),
                                     meta["metadata"].get("kubernetes_namespace"),
                                     meta["pod"].get("uid"),
                                     meta["pod"].get("sandbox_id"),
                                     meta["container"].get("attempt")),
                                    ("counter", "counters", "prod",
                                     "0b6f5a8e-1111-4222-8333-944455556666",
                                     CTRD["sandbox"], 2)))
        report.check("containerd: image name and ref, runtime",
                     lambda: differ((meta.get("image"),
                                     meta["image_details"].get("ref"),
                                     meta.get("runtime")),
                                    (CTRD["image"], CTRD["image_ref"],
                                     "io.containerd.runc.v2")))
        report.check("containerd: times (created from config.dump, started from "
                     "status)",
                     lambda: differ((meta.get("created"),
                                     meta["times"].get("created"),
                                     meta["times"].get("started")),
                                    ("2026-11-28T11:00:00Z", "2026-11-28T11:00:00.25Z",
                                     "2026-11-29T02:00:01.000000000Z")))
        report.check("containerd: annotations as in spec.dump",
                     lambda: differ(meta.get("annotations"), exp["spec"]["annotations"]))
        report.check("containerd: status.dump and status kept",
                     lambda: differ((meta.get("status_dump"),
                                     meta.get("containerd_status")),
                                    (exp["status_dump"], exp["status"])))
        report.check("containerd: log member container.log",
                     lambda: differ(meta.get("log_member"), "container.log"))

        rd = os.path.join(mnt, "rootfs-diff")
        report.check("containerd: rootfs-diff.tar read as gzip",
                     lambda: differ((meta["rootfs_diff"].get("compression"),
                                     meta["rootfs_diff"].get("whiteouts")),
                                    ("gzip", 2)))
        report.check("containerd: rootfs-diff/ lists the layer without whiteouts",
                     lambda: differ(walk(rd), ["etc", "root", "root/ctrd-note.txt",
                                               "root/hard", "var", "var/cache",
                                               "var/cache/fresh.txt"]))
        report.check("containerd: rootfs-diff file bytes (gzip layer)",
                     lambda: differ(read(os.path.join(rd, "root/ctrd-note.txt")), note))
        report.check("containerd: a hard link serves its target's bytes",
                     lambda: differ(read(os.path.join(rd, "root/hard")), note))
        report.check("containerd: rootfs-diff.deleted from whiteouts "
                     "(opaque dir with a trailing /)",
                     lambda: differ(read(os.path.join(mnt, "rootfs-diff.deleted"), "r"),
                                    "/etc/group\n/var/cache/\n"))
        info = read(os.path.join(mnt, "info"), "r").split("\n")
        want = ["counter", "├── Engine: containerd",
                "├── Checkpointed: 2026-11-28T11:30:00Z",
                "│   ├── Pod name: counters", "│   ├── Kubernetes namespace: prod",
                "│       ├── io.kubernetes.cri.container-name: counter"]
        report.check("containerd: info has engine, pod and annotation lines",
                     lambda: differ([w for w in want if w not in info], []))
    return mnt


def build_variant(src, path, replace):
    """The Podman fixture with the members named in @replace replaced."""
    with tarfile.open(src) as s, tarfile.open(path, "w") as tar:
        for ti in s.getmembers():
            if ti.name in replace:
                add_bytes(tar, ti.name, replace[ti.name], 0o644)
            else:
                tar.addfile(ti, s.extractfile(ti) if ti.isfile() else None)


NETWORK_STATUS = {"podman": {"interfaces": {"eth0": {
    "subnets": [{"ipnet": "10.88.0.4/16", "gateway": "10.88.0.1"}],
    "mac_address": "2e:e1:db:6b:68:93"}}}}


def check_podman_network(report, ckfs, src, tmp):
    """Podman's network.status (the fixture ran with --network=none)."""
    path = os.path.join(tmp, "podman-net.tar")
    build_variant(src, path, {"network.status":
                              json.dumps(NETWORK_STATUS).encode()})
    with lib_mount.mounted(ckfs, path, MOUNT_TIMEOUT) as mnt:
        meta = meta_of(mnt)
        report.check("podman network: network_interfaces from network.status",
                     lambda: differ(meta.get("network_interfaces"),
                                    [{"network": "podman", "interface": "eth0",
                                      "mac": "2e:e1:db:6b:68:93",
                                      "subnets": NETWORK_STATUS["podman"]
                                      ["interfaces"]["eth0"]["subnets"]}]))
        info = read(os.path.join(mnt, "info"), "r").split("\n")
        at = info.index("├── Engine: Podman") + 1 if "├── Engine: Podman" in info else 0
        report.check("podman network: info's Network Interfaces node",
                     lambda: differ(info[at:at + 5],
                                    ["├── Network Interfaces",
                                     "│   └── podman (eth0)",
                                     "│       ├── IP: 10.88.0.4/16",
                                     "│       ├── MAC: 2e:e1:db:6b:68:93",
                                     "│       └── Gateway: 10.88.0.1"]))
    return mnt


def patterned(mib, tail=123):
    """@mib MiB that gzip shrinks, each MiB numbered (a misplaced MiB shows)."""
    block = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(512))
    out = io.BytesIO()
    for i in range(mib):
        out.write((b"MiB %08d" % i + block * 64)[:1 << 20])
    out.write(block[:tail])
    return out.getvalue()


def check_big_gzip(report, ckfs, src, tmp):
    """A gzip rootfs-diff.tar far larger than the daemon's memory is served
    whole, from the private cache, with the daemon's RSS flat."""
    data = patterned(96)
    big = io.BytesIO()
    with tarfile.open(fileobj=big, mode="w") as t:
        add_bytes(t, "var/big.bin", data, 0o644)
        add_bytes(t, "etc/after.txt", b"after the big one\n", 0o644)
    path = os.path.join(tmp, "big-gzip.tar")
    build_variant(src, path, {"rootfs-diff.tar":
                              gzip.compress(big.getvalue(), 1, mtime=0)})
    with lib_mount.mounted(ckfs, path, MOUNT_TIMEOUT) as mnt:
        rd = os.path.join(mnt, "rootfs-diff")
        before = mnt.peak_rss()
        report.check("gzip rootfs-diff of 96 MiB: entries listed",
                     lambda: differ(walk(rd), ["etc", "etc/after.txt", "var",
                                               "var/big.bin"]))
        report.check("gzip rootfs-diff of 96 MiB: var/big.bin has its size",
                     lambda: differ(os.stat(os.path.join(rd, "var/big.bin")).st_size,
                                    len(data)))
        report.check("gzip rootfs-diff of 96 MiB: var/big.bin reads back byte for byte",
                     lambda: differ(hashlib.sha256(read(os.path.join(rd, "var/big.bin")))
                                    .hexdigest(), hashlib.sha256(data).hexdigest()))
        with open(os.path.join(rd, "var/big.bin"), "rb") as f:
            f.seek(77 << 20)
            got = f.read(16)
        report.check("gzip rootfs-diff of 96 MiB: a seek into MiB 77 finds it",
                     lambda: differ(got, data[77 << 20:(77 << 20) + 16]))
        report.check("gzip rootfs-diff of 96 MiB: the entry after it reads",
                     lambda: differ(read(os.path.join(rd, "etc/after.txt")),
                                    b"after the big one\n"))
        grew = mnt.peak_rss() - before
        report.check("gzip rootfs-diff of 96 MiB: decoded to the cache, not "
                     "to memory (daemon peak RSS grew %d MiB)" % (grew >> 20),
                     lambda: None if grew < (32 << 20) else
                     "grew by %d KiB" % (grew >> 10))
        meta = meta_of(mnt)
        report.check("gzip rootfs-diff of 96 MiB: metadata.json says gzip, no error",
                     lambda: differ((meta["rootfs_diff"].get("compression"),
                                     meta["rootfs_diff"].get("error")),
                                    ("gzip", None)))
    return mnt


def check_broken(report, ckfs, src, tmp):
    """A rootfs-diff.tar that cannot be shown fails alone, with a reason."""
    big = io.BytesIO()
    with tarfile.open(fileobj=big, mode="w") as t:
        add_bytes(t, "huge.bin", patterned(24), 0o644)
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as t:
        add_bytes(t, "etc/ok.txt", b"fine\n", 0o644)
        add_bytes(t, "../escape.txt", b"outside\n", 0o644)
    cases = (("gzip past cache_max=16M", gzip.compress(big.getvalue(), 1, mtime=0),
              ("-o", "cache_max=16M"), "cache limit of 16.0 MiB (cache_max=16.0 MiB)"),
             ("'..' entry", evil.getvalue(), (), "'..'"))
    mounts = []
    for i, (what, layer, args, reason) in enumerate(cases):
        path = os.path.join(tmp, "broken-%d.tar" % i)
        build_variant(src, path, {"rootfs-diff.tar": layer})
        with lib_mount.mounted(ckfs, path, MOUNT_TIMEOUT, args) as mnt:
            rd = os.path.join(mnt, "rootfs-diff")
            report.check("broken rootfs-diff (%s): rootfs-diff/ reads as EIO" % what,
                         lambda: expect_eio(lambda: os.listdir(rd)))
            meta = meta_of(mnt)
            report.check("broken rootfs-diff (%s): metadata.json says why" % what,
                         lambda: None if reason in meta["rootfs_diff"].get("error", "")
                         else "rootfs_diff: %r" % meta["rootfs_diff"])
            report.check("broken rootfs-diff (%s): rootfs-diff.deleted still "
                         "lists deleted.files" % what,
                         lambda: differ(read(os.path.join(mnt, "rootfs-diff.deleted"),
                                             "r"), "/etc/group\n"))
            report.check("broken rootfs-diff (%s): info and proc/ still work" % what,
                         lambda: differ((read(os.path.join(mnt, "info"), "r")
                                         .split("\n")[0],
                                         sorted(os.listdir(os.path.join(mnt, "proc")))),
                                        ("podman-counter", ["1", "5"])))
        mounts.append(mnt)
    return mounts


def check_criu(report, ckfs, archive):
    with lib_mount.mounted(ckfs, archive, MOUNT_TIMEOUT) as mnt:
        meta = meta_of(mnt)
        top = sorted(os.listdir(mnt))
        report.check("criu: engine criu, no engine members, confirmed",
                     lambda: differ((meta.get("engine"), meta.get("engine_evidence"),
                                     meta["engine_detection"].get("confirmed")),
                                    ("criu", [], True)))
        report.check("criu: no rootfs-diff/ and no rootfs-diff.deleted",
                     lambda: differ([n for n in top if n.startswith("rootfs-diff")], []))
        report.check("criu: no rootfs_diff in metadata.json",
                     lambda: differ("rootfs_diff" in meta, False))
        info = read(os.path.join(mnt, "info"), "r").split("\n")
        report.check("criu: info is a tree rooted at Container, Engine: criu",
                     lambda: differ(info[:2], ["Container", "├── Engine: criu"]))
        socks = [l for l in info if "[TCP (" in l or "[UNIX (" in l]
        report.check("criu: info shows open sockets as checkpointctl labels them",
                     lambda: None if any("[TCP (LISTEN)]  127.0.0.1:" in l for l in socks)
                     and any("[UNIX (STREAM)]" in l for l in socks)
                     else "socket lines: %r" % socks)
        report.check("criu: metadata.json sockets in checkpointctl's shape",
                     lambda: None if any(s.get("data", {}).get("state") == "LISTEN"
                                         for e in meta.get("sockets", [])
                                         for s in e.get("open_sockets", []))
                     else "sockets: %r" % meta.get("sockets"))
    return mnt


def stats_proto_fields(path):
    text = read(path, "r")
    body = re.search(r"message dump_stats_entry \{(.*?)\}", text, re.S).group(1)
    return re.findall(r"optional \w+ (\w+) = \d+;", body)


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    ckfs, podman, criu, ref_dir, proto = argv[1:]
    why = lib_mount.fuse_unavailable()
    if why:
        print("1..0 # SKIP %s" % why)
        return lib_mount.SKIP_CODE
    report = Report()
    tmp = tempfile.mkdtemp(prefix="ckfs-engines-")
    mounts = []
    try:
        with lib_mount.watchdog(OVERALL_TIMEOUT) as fired:
            try:
                for name, fn, args in (
                        ("podman", check_podman, (ckfs, podman, ref_dir,
                                                  stats_proto_fields(proto))),
                        ("cri-o", check_crio, (ckfs, podman, tmp)),
                        ("containerd", check_containerd, (ckfs, podman, tmp)),
                        ("broken", check_broken, (ckfs, podman, tmp)),
                        ("big gzip", check_big_gzip, (ckfs, podman, tmp)),
                        ("podman network", check_podman_network,
                         (ckfs, podman, tmp)),
                        ("criu", check_criu, (ckfs, criu))):
                    try:
                        got = fn(report, *args)
                        mounts += [(name, m) for m in
                                   (got if isinstance(got, list) else [got])]
                    except lib_mount.MountFailed as e:
                        report.check("%s: mount" % name,
                                     lambda e=e: "%s: %s" % (e, e.stderr.strip()))
            except KeyboardInterrupt:
                if not fired.is_set():
                    raise
                report.check("finished within %g s" % OVERALL_TIMEOUT,
                             lambda: "watchdog fired")
        for name, m in mounts:
            report.check("%s: daemon exited cleanly, no sanitizer report" % name,
                         lambda m=m: "; ".join(m.daemon_problems()) or None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (report.passed, report.failed), flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
