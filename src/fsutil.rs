//! Durable file writes.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
/// directory. A crash leaves either the old file or the new one, never a torn one.
///
/// Private by default: a new file is readable by its owner only (0600, whatever the umask: slides,
/// reads and reports are patient data); a rewritten file keeps the mode it had.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Like [`write_atomic`], for content produced piece by piece: `fill` writes into a buffered
/// temporary file, which replaces `path` only if `fill` succeeds (and is removed if it fails).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    remove_dead_temporaries(dir, path);
    let (tmp_path, file) = tempfile_in(dir, path)?;
    let result = (|| {
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        if let Ok(existing) = std::fs::metadata(path) {
            file.set_permissions(existing.permissions())?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp_path, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new, empty staging folder `parent/<prefix><pid>-<nanos>` for output that is moved into place
/// only once complete. Staging folders under `parent` with the same prefix whose process is gone
/// (a killed run) are removed first; those of live processes (another run under way) are kept.
pub fn new_staging_dir(parent: &Path, prefix: &str) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(parent)?;
    if let Ok(entries) = std::fs::read_dir(parent) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('-').next())
            else {
                continue;
            };
            let alive = pid
                .parse::<u32>()
                .map_or(true, |pid| pid == std::process::id() || process_alive(pid));
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = parent.join(format!("{prefix}{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

/// Encodes straight-alpha RGBA8 pixels as PNG and writes them with [`write_atomic`].
pub fn write_png(path: &Path, width: u32, height: u32, rgba: Vec<u8>) -> std::io::Result<()> {
    let buf = image::RgbaImage::from_raw(width, height, rgba).ok_or_else(|| {
        std::io::Error::other(format!(
            "{width}x{height} image with the wrong number of pixels"
        ))
    })?;
    let mut png = Vec::new();
    buf.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(std::io::Error::other)?;
    write_atomic(path, &png)
}

/// Removes the temporaries that earlier writes of `target` left when their process was killed
/// (`.<name>.<pid>.<n>.tmp` of a process that no longer runs): the next write of the same file
/// cleans up after the one that died. A live process's temporary (a write under way) is kept.
fn remove_dead_temporaries(dir: &Path, target: &Path) {
    let prefix = format!(
        ".{}.",
        target.file_name().unwrap_or_default().to_string_lossy()
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether process `pid` runs (on Linux, through /proc; elsewhere every process counts as
/// running, so nothing of a live one is ever removed). A zombie (killed, not yet reaped: in a
/// container whose init reaps late, a killed run stays one for a while) is not running.
pub fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.is_dir() {
        return true;
    }
    match std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
        // "pid (command) state ...": the command may hold spaces and parentheses.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next()),
            Some("Z" | "X")
        ),
        Err(_) => false,
    }
}

fn tempfile_in(dir: &Path, target: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let stem = target.file_name().unwrap_or_default().to_string_lossy();
    for attempt in 0..100u32 {
        let candidate = dir.join(format!(".{stem}.{}.{attempt}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&candidate) {
            Ok(f) => return Ok((candidate, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("write");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    /// Killed writes left `.<name>.<pid>.<n>.tmp` files that no later run removed: the next write
    /// of the same file removes those of dead processes and keeps a live one's.
    #[test]
    fn the_next_write_removes_temporaries_of_killed_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.heatmap.json");
        // PIDs above the kernel's maximum (4194304) belong to no process.
        let dead = dir.path().join(".a.heatmap.json.999999999.0.tmp");
        let live = dir
            .path()
            .join(format!(".a.heatmap.json.{}.7.tmp", std::process::id()));
        let other = dir.path().join(".b.json.999999999.0.tmp");
        for f in [&dead, &live, &other] {
            std::fs::write(f, b"half").expect("write");
        }
        write_atomic(&p, b"whole").expect("write");
        assert!(!dead.exists(), "a killed write's temporary is removed");
        assert!(live.exists(), "a running process's temporary is kept");
        assert!(
            other.exists(),
            "another file's temporaries wait for its own next write"
        );
    }

    /// A killed export was still "running" to the next run, which kept its staging folder: the
    /// process was a zombie that the container's init had not reaped yet.
    #[test]
    fn a_killed_unreaped_process_is_not_alive() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id();
        assert!(process_alive(pid));
        child.kill().expect("kill");
        // Not waited for yet: a zombie until `wait` reaps it.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!process_alive(pid), "a zombie counts as gone");
        child.wait().expect("reap");
        assert!(!process_alive(pid));
        assert!(process_alive(std::process::id()));
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_private_and_rewrites_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        let p = dir.path().join("report.html");
        write_atomic(&p, b"one").expect("write");
        assert_eq!(mode(&p), 0o600, "a new file is the owner's only");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        write_atomic(&p, b"two").expect("write");
        assert_eq!(mode(&p), 0o640, "a rewrite keeps the mode the user gave it");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_atomic(&p, b"three").expect("write");
        assert_eq!(mode(&p), 0o600, "a private file stays private");
    }
}
