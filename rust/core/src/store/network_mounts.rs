//! Local paths on filesystems that can stall: NFS, SMB, FUSE and the like.
//!
//! A single `get` of a local file is read on the caller's thread (the fast
//! path: no hop to the runtime). On a stalled network mount that read, or
//! even the `open`, blocks in the kernel and nothing, Ctrl-C included, can
//! end the call. Paths under such mounts therefore take the runtime path,
//! whose wait is interruptible (the stuck thread is a blocking worker, not
//! the caller). The mount table is read once per process from
//! `/proc/self/mountinfo` without touching any mount; only network mount
//! points are kept, so on a machine with none (the common case) the check
//! is one empty-slice test. A path reached through a symbolic link into a
//! network mount, or under a mount made after the first read, is not seen.

use std::sync::atomic::AtomicPtr;

use crate::process::{per_process, Stamped};

/// Filesystem types that reach another machine (FUSE ones are often that
/// too: s3fs, gcsfuse, sshfs).
const NETWORK_TYPES: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "glusterfs",
    "lustre",
    "afs",
    "gpfs",
    "beegfs",
    "davfs",
    "ncpfs",
    "orangefs",
];

fn is_network(fstype: &str) -> bool {
    fstype.starts_with("fuse") || NETWORK_TYPES.contains(&fstype)
}

/// Mount points of network filesystems in a `mountinfo` text.
fn network_mount_points(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mount_point = before.split(' ').nth(4)?;
            let fstype = after.split(' ').next()?;
            is_network(fstype).then(|| unescape(mount_point))
        })
        .collect()
}

/// A `mountinfo` field with its octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is `mount_point` or lies under it.
fn is_under(path: &str, mount_point: &str) -> bool {
    let mount_point = mount_point.trim_end_matches('/');
    mount_point.is_empty()
        || path
            .strip_prefix(mount_point)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

static TABLE: AtomicPtr<Stamped<Vec<String>>> = AtomicPtr::new(std::ptr::null_mut());

/// True when the absolute `path` lies on a network filesystem.
pub(crate) fn may_stall(path: &str) -> bool {
    let points = per_process(
        &TABLE,
        || {
            std::fs::read_to_string("/proc/self/mountinfo")
                .map(|text| network_mount_points(&text))
                .unwrap_or_default()
        },
        drop,
    );
    points.iter().any(|point| is_under(path, point))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 259:1 / / rw,relatime - ext4 /dev/vda1 rw
40 27 0:50 / /mnt/data rw,relatime shared:5 - nfs4 server:/export rw,vers=4.2
41 27 0:51 / /mnt/my\\040bucket rw - fuse.s3fs s3fs rw
42 27 259:2 / /mnt/database rw - xfs /dev/vdb rw
";

    #[test]
    fn network_mounts_are_found_and_matched_by_component() {
        let points = network_mount_points(MOUNTINFO);
        assert_eq!(points, ["/mnt/data", "/mnt/my bucket"]);
        let stalls = |p: &str| points.iter().any(|m| is_under(p, m));
        assert!(stalls("/mnt/data/train/x.bin"));
        assert!(stalls("/mnt/data"));
        assert!(stalls("/mnt/my bucket/k"));
        assert!(
            !stalls("/mnt/database/x.bin"),
            "a sibling with a longer name"
        );
        assert!(!stalls("/tmp/x.bin"));
    }

    #[test]
    fn this_machines_temporary_folder_is_local() {
        assert!(!may_stall(&std::env::temp_dir().to_string_lossy()));
    }
}
