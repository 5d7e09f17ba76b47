//! Files the CLI writes (its config with the admin token, backups, exported configuration):
//! written whole to a temporary sibling with mode 0600 on unix, then renamed into place, so a
//! failed write leaves no half file and no secret is ever readable by others.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::http::Error;

/// Fails if `path` exists, unless `overwrite`; meant to be called before doing the work that
/// produces the file's contents.
pub(crate) fn check_free(path: &Path, overwrite: bool) -> Result<(), Error> {
    if !overwrite && fs::symlink_metadata(path).is_ok() {
        return Err(Error::Other(format!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        )));
    }
    Ok(())
}

/// Writes `path` through `fill`, returning what `fill` returned.
pub(crate) fn write<T>(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut File) -> io::Result<T>,
) -> Result<T, Error> {
    check_free(path, overwrite)?;
    let tmp = temp_sibling(path);
    let failed = |e: io::Error| Error::Other(format!("cannot write {}: {e}", path.display()));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&tmp).map_err(failed)?;
    let done = fill(&mut file).and_then(|t| file.sync_all().map(|()| t));
    drop(file);
    let renamed = done.and_then(|t| fs::rename(&tmp, path).map(|()| t));
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed.map_err(failed)
}

/// Creates a directory and its parents; the ones created are private (0700) on unix.
pub(crate) fn create_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| Error::Other(format!("cannot create {}: {e}", dir.display())))
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("omniroute-cli-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn files_are_not_overwritten_without_force() {
        let dir = scratch("overwrite");
        let f = dir.join("out.db");
        write(&f, false, |w| w.write_all(b"one")).unwrap();
        let e = write(&f, false, |w| w.write_all(b"two")).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(fs::read(&f).unwrap(), b"one");
        write(&f, true, |w| w.write_all(b"two")).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_fill_leaves_nothing() {
        let dir = scratch("failed");
        let f = dir.join("out.db");
        assert!(write(&f, false, |_| Err::<(), _>(io::Error::other("broke"))).is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("mode");
        let f = dir.join("cli.toml");
        write(&f, true, |w| w.write_all(b"x")).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
