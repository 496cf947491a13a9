//! File access below the home directory that never follows a symlink.
//!
//! The home directory is opened once (refusing a symlinked home); every path below it
//! is reached from that descriptor: with `openat2(RESOLVE_NO_SYMLINKS |
//! RESOLVE_BENEATH)` when the kernel has it, otherwise (or when forced, see
//! [`FORCE_OPENAT_CHAIN_ENV`]) by an `openat(O_NOFOLLOW | O_DIRECTORY)` chain, one
//! component at a time. Targets are inspected with `fstatat(AT_SYMLINK_NOFOLLOW)` and
//! opened with `O_NOFOLLOW | O_NONBLOCK`, and the opened inode is checked against the
//! inspected one. New content is written to an unnamed `O_TMPFILE` (fallback: a
//! named `O_EXCL` temp file), fsynced, linked under a temporary name and swapped in
//! with `renameat2(RENAME_EXCHANGE)`; what was swapped out must be the inode that was
//! checked, so a symlink or file swapped in between check and write is detected and
//! swapped back. Mount points (bind-mounted files) are written in place instead.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use qcs_protocol::{FileRefusal, RelativePath, Sha256Hex};
use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags, Stat, StatxAttributes, StatxFlags,
};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

/// Set to `1` to use the `openat` chain even where `openat2` exists (tests run both).
pub const FORCE_OPENAT_CHAIN_ENV: &str = "QUBES_CONFIG_AGENT_FORCE_OPENAT_CHAIN";

/// Test hook, debug builds only: a directory; before replacing each file the agent
/// creates `checked` in it and waits (up to 30 s) for `go`, so a test can race it for
/// real. Release builds ignore it.
pub const TEST_PAUSE_DIR_ENV: &str = "QUBES_CONFIG_AGENT_TEST_PAUSE_DIR";

/// Why a path could not be used; maps onto [`FileRefusal`] with a detail.
#[derive(Debug, thiserror::Error)]
pub enum FsRefusal {
    #[error("'{0}' is a symlink")]
    Symlink(String),
    #[error("'{0}' is not a directory")]
    NotADirectory(String),
    #[error("'{0}' does not exist")]
    Missing(String),
    #[error("target is a FIFO")]
    Fifo,
    #[error("target is a socket")]
    Socket,
    #[error("target is a device")]
    Device,
    #[error("target is a directory")]
    Directory,
    #[error("target has {0} hard links")]
    Hardlink(u64),
    #[error("target changed between check and write")]
    Raced,
    #[error("{context}: {errno}")]
    Io { context: &'static str, errno: Errno },
}

impl FsRefusal {
    /// The file system (or the user's quota) is full.
    pub fn out_of_space(&self) -> bool {
        matches!(
            self,
            FsRefusal::Io {
                errno: Errno::NOSPC | Errno::DQUOT,
                ..
            }
        )
    }

    pub fn reason(&self) -> FileRefusal {
        match self {
            FsRefusal::Symlink(_) => FileRefusal::Symlink,
            FsRefusal::NotADirectory(_) => FileRefusal::NotADirectory,
            FsRefusal::Missing(_) => FileRefusal::Missing,
            FsRefusal::Fifo => FileRefusal::Fifo,
            FsRefusal::Socket => FileRefusal::Socket,
            FsRefusal::Device => FileRefusal::Device,
            FsRefusal::Directory => FileRefusal::Directory,
            FsRefusal::Hardlink(_) => FileRefusal::Hardlink,
            FsRefusal::Raced => FileRefusal::Raced,
            FsRefusal::Io { .. } => FileRefusal::Io,
        }
    }
}

fn io(context: &'static str) -> impl Fn(Errno) -> FsRefusal {
    move |errno| FsRefusal::Io { context, errno }
}

/// How directories below home are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    Openat2,
    OpenatChain,
}

/// The service user's home directory, opened once.
pub struct Home {
    fd: OwnedFd,
    resolver: Resolver,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Home {
    /// Opens `path` (absolute) as the home directory; its last component must not be
    /// a symlink.
    pub fn open(path: &Path) -> Result<Home, FsRefusal> {
        if !path.is_absolute() {
            return Err(FsRefusal::Io {
                context: "HOME is not an absolute path",
                errno: Errno::INVAL,
            });
        }
        let fd = rustix::fs::open(path, DIR_FLAGS, Mode::empty()).map_err(|errno| match errno {
            Errno::LOOP | Errno::NOTDIR => {
                match rustix::fs::lstat(path).map(|st| FileType::from_raw_mode(st.st_mode)) {
                    Ok(FileType::Symlink) => FsRefusal::Symlink("HOME".into()),
                    _ => FsRefusal::NotADirectory("HOME".into()),
                }
            }
            Errno::NOENT => FsRefusal::Missing("HOME".into()),
            errno => FsRefusal::Io {
                context: "opening HOME",
                errno,
            },
        })?;
        let forced = std::env::var_os(FORCE_OPENAT_CHAIN_ENV).is_some_and(|v| v == "1");
        let resolver = if forced || !openat2_works(&fd) {
            Resolver::OpenatChain
        } else {
            Resolver::Openat2
        };
        Ok(Home { fd, resolver })
    }

    pub fn resolver(&self) -> Resolver {
        self.resolver
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory holding `path`'s last component. With `create`, missing
    /// directories are created (0700), each with the same no-symlink discipline.
    pub fn open_parent(&self, path: &RelativePath, create: bool) -> Result<OwnedFd, FsRefusal> {
        let parents: Vec<&str> = path.parent_components().collect();
        self.open_dir(&parents, create)
    }

    /// Opens the directory named by `components` below home.
    pub fn open_dir(&self, components: &[&str], create: bool) -> Result<OwnedFd, FsRefusal> {
        if components.is_empty() {
            return rustix::io::dup(&self.fd).map_err(io("duplicating the home descriptor"));
        }
        if self.resolver == Resolver::Openat2 {
            let joined = components.join("/");
            let resolve =
                ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            // On any error (EAGAIN after a concurrent rename, a symlink, a missing
            // component) the chain below is as safe, finds the exact offending
            // component and creates missing ones.
            if let Ok(fd) =
                rustix::fs::openat2(&self.fd, joined.as_str(), DIR_FLAGS, Mode::empty(), resolve)
            {
                return Ok(fd);
            }
        }
        let mut dir = rustix::io::dup(&self.fd).map_err(io("duplicating the home descriptor"))?;
        for component in components {
            dir = open_dir_component(&dir, component, create)?;
        }
        Ok(dir)
    }
}

fn openat2_works(home: &OwnedFd) -> bool {
    !matches!(
        rustix::fs::openat2(
            home,
            ".",
            DIR_FLAGS,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH
        ),
        Err(Errno::NOSYS) | Err(Errno::PERM)
    )
}

/// Opens one directory component below `dir`, never following a symlink.
pub fn open_dir_component(dir: &OwnedFd, name: &str, create: bool) -> Result<OwnedFd, FsRefusal> {
    for _attempt in 0..2 {
        match rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {
                        rustix::fs::fsync(dir).map_err(io("syncing a new directory's parent"))?;
                    }
                    Err(Errno::EXIST) => {}
                    Err(errno) => {
                        return Err(FsRefusal::Io {
                            context: "creating a directory",
                            errno,
                        });
                    }
                }
            }
            Err(Errno::NOENT) => return Err(FsRefusal::Missing(name.to_owned())),
            Err(Errno::LOOP | Errno::NOTDIR) => {
                return Err(match lstat_at(dir, name) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                        FsRefusal::Symlink(name.to_owned())
                    }
                    _ => FsRefusal::NotADirectory(name.to_owned()),
                });
            }
            Err(errno) => {
                return Err(FsRefusal::Io {
                    context: "opening a directory",
                    errno,
                });
            }
        }
    }
    Err(FsRefusal::Raced)
}

pub fn lstat_at(dir: impl AsFd, name: &str) -> Result<Stat, Errno> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
}

/// What is at a path, inspected without following symlinks.
pub enum Target {
    Missing,
    Regular(RegularFile),
}

/// An existing regular file with exactly one link, opened read-only.
pub struct RegularFile {
    pub file: File,
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub size: u64,
    pub sha256: Sha256Hex,
    /// A mount point (e.g. a custom-persist `file:` bind mount): cannot be renamed
    /// over, so it is written in place.
    pub mount_root: bool,
}

/// Refuses every file type but a regular file; `Missing` for nothing there.
pub fn classify(st: &Stat) -> Result<(), FsRefusal> {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(()),
        FileType::Symlink => Err(FsRefusal::Symlink("target".into())),
        FileType::Directory => Err(FsRefusal::Directory),
        FileType::Fifo => Err(FsRefusal::Fifo),
        FileType::Socket => Err(FsRefusal::Socket),
        FileType::CharacterDevice | FileType::BlockDevice => Err(FsRefusal::Device),
        FileType::Unknown => Err(FsRefusal::Device),
    }
}

/// Inspects `name` in `dir`: a regular file (hashed), nothing, or a refusal. With
/// `allow_hardlinks` (snapshot only) a file with several links is still read.
pub fn inspect(dir: &OwnedFd, name: &str, allow_hardlinks: bool) -> Result<Target, FsRefusal> {
    let st = match lstat_at(dir, name) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(Target::Missing),
        Err(errno) => {
            return Err(FsRefusal::Io {
                context: "inspecting the target",
                errno,
            });
        }
    };
    classify(&st).map_err(|e| match e {
        FsRefusal::Symlink(_) => FsRefusal::Symlink(name.to_owned()),
        other => other,
    })?;
    if st.st_nlink > 1 && !allow_hardlinks {
        return Err(FsRefusal::Hardlink(st.st_nlink));
    }
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(FsRefusal::Raced),
        Err(Errno::NOENT) => return Err(FsRefusal::Raced),
        Err(errno) => {
            return Err(FsRefusal::Io {
                context: "opening the target",
                errno,
            });
        }
    };
    let opened = rustix::fs::fstat(&fd).map_err(io("inspecting the opened target"))?;
    classify(&opened).map_err(|_| FsRefusal::Raced)?;
    if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) {
        return Err(FsRefusal::Raced);
    }
    let mount_root = is_mount_root(dir, name, &opened);
    let mut file = File::from(fd);
    let sha256 = hash_file(&mut file)?;
    Ok(Target::Regular(RegularFile {
        file,
        dev: opened.st_dev,
        ino: opened.st_ino,
        mode: opened.st_mode & 0o7777,
        size: opened.st_size as u64,
        sha256,
        mount_root,
    }))
}

/// Hashes the whole file from its start.
pub fn hash_file(file: &mut File) -> Result<Sha256Hex, FsRefusal> {
    file.rewind()
        .map_err(|e| io_err("rewinding the target", e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("reading the target", e)),
        };
        hasher.update(&buffer[..n]);
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Sha256Hex::parse(&hex).map_err(|_| FsRefusal::Io {
        context: "formatting a hash",
        errno: Errno::INVAL,
    })
}

/// Reads at most `limit` bytes of the file from its start; `None` if it is longer.
pub fn read_up_to(file: &mut File, limit: usize) -> Result<Option<Vec<u8>>, FsRefusal> {
    file.rewind()
        .map_err(|e| io_err("rewinding the target", e))?;
    let mut out = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| io_err("reading the target", e))?;
    Ok((out.len() <= limit).then_some(out))
}

pub fn io_err(context: &'static str, e: io::Error) -> FsRefusal {
    FsRefusal::Io {
        context,
        errno: Errno::from_io_error(&e).unwrap_or(Errno::IO),
    }
}

/// Whether `name` in `dir` is the root of a mount (a bind-mounted file): statx's
/// `STATX_ATTR_MOUNT_ROOT`, else a different mount id, else a different device.
fn is_mount_root(dir: &OwnedFd, name: &str, target: &Stat) -> bool {
    let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
    if let Ok(sx) = rustix::fs::statx(
        dir,
        name,
        flags,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    ) {
        if sx.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
            return sx.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
        }
        if sx.stx_mask & StatxFlags::MNT_ID.bits() != 0
            && let Ok(parent) = rustix::fs::statx(dir, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)
            && parent.stx_mask & StatxFlags::MNT_ID.bits() != 0
        {
            return parent.stx_mnt_id != sx.stx_mnt_id;
        }
    }
    rustix::fs::fstat(dir).is_ok_and(|parent| parent.st_dev != target.st_dev)
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn temp_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        ".qcs-{}-{}-{nanos}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A complete, fsynced new file not yet visible under its final name.
enum PreparedTemp {
    /// An `O_TMPFILE`: no name at all until linked, so a crash leaves nothing.
    Unnamed(File),
    /// Fallback where `O_TMPFILE` is missing: already under a temporary name.
    Named(String),
}

impl PreparedTemp {
    /// Gives the file a temporary name in `dir` (for the final rename).
    fn link(self, dir: &OwnedFd) -> Result<String, FsRefusal> {
        let file = match self {
            PreparedTemp::Named(name) => return Ok(name),
            PreparedTemp::Unnamed(file) => file,
        };
        let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
        for _ in 0..16 {
            let name = temp_name();
            match rustix::fs::linkat(
                rustix::fs::CWD,
                proc_path.as_str(),
                dir,
                name.as_str(),
                AtFlags::SYMLINK_FOLLOW,
            ) {
                Ok(()) => return Ok(name),
                Err(Errno::EXIST) => continue,
                Err(errno) => {
                    return Err(FsRefusal::Io {
                        context: "linking the new file",
                        errno,
                    });
                }
            }
        }
        Err(FsRefusal::Io {
            context: "choosing a temporary name",
            errno: Errno::EXIST,
        })
    }

    /// Drops an unused prepared file.
    fn discard(self, dir: &OwnedFd) {
        if let PreparedTemp::Named(name) = self {
            let _ = rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty());
        }
    }
}

/// Writes `bytes` with `mode` (set on the descriptor) into a new file in `dir` and
/// fsyncs it: an unnamed `O_TMPFILE` where the file system and `/proc` allow linking
/// it later, otherwise a named file created with `O_EXCL | O_NOFOLLOW`.
fn prepare_temp(dir: &OwnedFd, bytes: &[u8], mode: u32) -> Result<PreparedTemp, FsRefusal> {
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    let proc_available = Path::new("/proc/self/fd").is_dir();
    if proc_available
        && let Ok(fd) = rustix::fs::openat(dir, ".", flags, Mode::from_raw_mode(0o600))
    {
        let mut file = File::from(fd);
        fill(&mut file, bytes, mode)?;
        return Ok(PreparedTemp::Unnamed(file));
    }
    write_named_temp(dir, bytes, mode).map(PreparedTemp::Named)
}

/// Writes a complete temporary file and gives it a name.
fn write_temp(dir: &OwnedFd, bytes: &[u8], mode: u32) -> Result<String, FsRefusal> {
    prepare_temp(dir, bytes, mode)?.link(dir)
}

fn fill(file: &mut File, bytes: &[u8], mode: u32) -> Result<(), FsRefusal> {
    file.write_all(bytes)
        .map_err(|e| io_err("writing a temporary file", e))?;
    rustix::fs::fchmod(&*file, Mode::from_raw_mode(mode)).map_err(io("setting the mode"))?;
    rustix::fs::fsync(&*file).map_err(io("syncing a temporary file"))
}

fn write_named_temp(dir: &OwnedFd, bytes: &[u8], mode: u32) -> Result<String, FsRefusal> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    for _ in 0..16 {
        let name = temp_name();
        let fd = match rustix::fs::openat(dir, name.as_str(), flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => continue,
            Err(errno) => {
                return Err(FsRefusal::Io {
                    context: "creating a temporary file",
                    errno,
                });
            }
        };
        if let Err(e) = fill(&mut File::from(fd), bytes, mode) {
            let _ = rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty());
            return Err(e);
        }
        return Ok(name);
    }
    Err(FsRefusal::Io {
        context: "choosing a temporary name",
        errno: Errno::EXIST,
    })
}

fn test_pause() {
    if !cfg!(debug_assertions) {
        return;
    }
    let Some(dir) = std::env::var_os(TEST_PAUSE_DIR_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let _ = File::create(dir.join("checked"));
    for _ in 0..30_000 {
        if dir.join("go").exists() {
            let _ = std::fs::remove_file(dir.join("go"));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Atomically replaces `name` in `dir` with `bytes`, or creates it when `existing` is
/// `None`. `existing` is the file that was checked: if anything else is found at the
/// name when the new file is swapped in (a symlink, another file, changed content),
/// the swap is undone and the result is [`FsRefusal::Raced`].
pub fn replace_atomically(
    dir: &OwnedFd,
    name: &str,
    bytes: &[u8],
    mode: u32,
    existing: Option<&mut RegularFile>,
) -> Result<(), FsRefusal> {
    let prepared = prepare_temp(dir, bytes, mode)?;
    test_pause();
    // The content check comes before the new file gets a name, so a kill during this
    // (slow) re-read leaves nothing behind; the inode check after the swap below is
    // what catches a swapped-in symlink or file.
    if let Some(checked) = &existing
        && hash_file(
            &mut checked
                .file
                .try_clone()
                .map_err(|e| io_err("reopening", e))?,
        )? != checked.sha256
    {
        prepared.discard(dir);
        return Err(FsRefusal::Raced);
    }
    let temp = prepared.link(dir)?;
    let result = match existing {
        None => publish_new(dir, &temp, name),
        Some(checked) => swap_in(dir, &temp, name, checked),
    };
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty());
    }
    result?;
    rustix::fs::fsync(dir).map_err(io("syncing the directory"))
}

fn publish_new(dir: &OwnedFd, temp: &str, name: &str) -> Result<(), FsRefusal> {
    match rustix::fs::renameat_with(dir, temp, dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => Err(FsRefusal::Raced),
        Err(Errno::INVAL | Errno::NOSYS) => {
            // No RENAME_NOREPLACE on this file system: a hard link never replaces.
            match rustix::fs::linkat(dir, temp, dir, name, AtFlags::empty()) {
                Ok(()) => {
                    let _ = rustix::fs::unlinkat(dir, temp, AtFlags::empty());
                    Ok(())
                }
                Err(Errno::EXIST) => Err(FsRefusal::Raced),
                Err(errno) => Err(FsRefusal::Io {
                    context: "publishing the new file",
                    errno,
                }),
            }
        }
        Err(errno) => Err(FsRefusal::Io {
            context: "publishing the new file",
            errno,
        }),
    }
}

fn swap_in(
    dir: &OwnedFd,
    temp: &str,
    name: &str,
    checked: &mut RegularFile,
) -> Result<(), FsRefusal> {
    match rustix::fs::renameat_with(dir, temp, dir, name, RenameFlags::EXCHANGE) {
        Ok(()) => {
            // `temp` now names what was at `name`; it must be the inode we checked
            // (its content was checked just before).
            let swapped_out = lstat_at(dir, temp);
            let same_inode = swapped_out
                .as_ref()
                .is_ok_and(|st| (st.st_dev, st.st_ino) == (checked.dev, checked.ino));
            if same_inode {
                rustix::fs::unlinkat(dir, temp, AtFlags::empty())
                    .map_err(io("removing the replaced file"))?;
                Ok(())
            } else {
                // Put back whatever was there and drop our file.
                rustix::fs::renameat_with(dir, temp, dir, name, RenameFlags::EXCHANGE)
                    .map_err(io("undoing a raced swap"))?;
                Err(FsRefusal::Raced)
            }
        }
        Err(Errno::INVAL | Errno::NOSYS) => rename_over_checked(dir, temp, name, checked),
        Err(errno) => Err(FsRefusal::Io {
            context: "swapping in the new file",
            errno,
        }),
    }
}

/// For file systems without `RENAME_EXCHANGE`: checks once more that the checked
/// inode is still there, then renames over it (a rename replaces the directory entry
/// itself and never writes through a symlink).
fn rename_over_checked(
    dir: &OwnedFd,
    temp: &str,
    name: &str,
    checked: &RegularFile,
) -> Result<(), FsRefusal> {
    let now = lstat_at(dir, name).map_err(|_| FsRefusal::Raced)?;
    if (now.st_dev, now.st_ino) != (checked.dev, checked.ino) || now.st_nlink != 1 {
        return Err(FsRefusal::Raced);
    }
    rustix::fs::renameat(dir, temp, dir, name).map_err(io("renaming over the target"))
}

/// Writes `bytes` into the existing file itself (truncate, write, fchmod, fsync),
/// for targets that are mount points. The file must still be the checked inode with
/// the checked content.
pub fn write_in_place(
    dir: &OwnedFd,
    name: &str,
    bytes: &[u8],
    mode: u32,
    checked: &mut RegularFile,
) -> Result<(), FsRefusal> {
    test_pause();
    let flags =
        OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty()).map_err(|errno| match errno {
        Errno::LOOP | Errno::NOENT => FsRefusal::Raced,
        errno => FsRefusal::Io {
            context: "opening the target for writing",
            errno,
        },
    })?;
    let st = rustix::fs::fstat(&fd).map_err(io("inspecting the target"))?;
    classify(&st).map_err(|_| FsRefusal::Raced)?;
    if (st.st_dev, st.st_ino) != (checked.dev, checked.ino) || st.st_nlink != 1 {
        return Err(FsRefusal::Raced);
    }
    if hash_file(&mut checked.file)? != checked.sha256 {
        return Err(FsRefusal::Raced);
    }
    let mut file = File::from(fd);
    rustix::fs::ftruncate(&file, 0).map_err(io("truncating the target"))?;
    file.write_all(bytes)
        .map_err(|e| io_err("writing the target in place", e))?;
    rustix::fs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(io("setting the mode"))?;
    rustix::fs::fsync(&file).map_err(io("syncing the target"))
}

/// Sets `mode` on an existing checked file (content already as wanted).
pub fn set_mode(checked: &RegularFile, mode: u32) -> Result<(), FsRefusal> {
    rustix::fs::fchmod(&checked.file, Mode::from_raw_mode(mode)).map_err(io("setting the mode"))?;
    rustix::fs::fsync(&checked.file).map_err(io("syncing the target"))
}

/// Removes the checked file `name` from `dir` if it is still the checked inode.
pub fn remove_checked(dir: &OwnedFd, name: &str, checked: &RegularFile) -> Result<(), FsRefusal> {
    let now = lstat_at(dir, name).map_err(|_| FsRefusal::Raced)?;
    if (now.st_dev, now.st_ino) != (checked.dev, checked.ino) {
        return Err(FsRefusal::Raced);
    }
    rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(io("removing the file"))?;
    rustix::fs::fsync(dir).map_err(io("syncing the directory"))
}

/// Writes a small file of our own (backups, spool) atomically: temp, fsync, rename
/// without replacing, fsync the directory.
pub fn create_file_atomically(dir: &OwnedFd, name: &str, bytes: &[u8]) -> Result<(), FsRefusal> {
    let temp = write_temp(dir, bytes, 0o600)?;
    let result = publish_new(dir, &temp, name);
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty());
    }
    result?;
    rustix::fs::fsync(dir).map_err(io("syncing the directory"))
}

/// Opens a regular file of our own for reading (no symlinks, no special files) and
/// reads at most `limit` bytes.
pub fn read_own_file(dir: &OwnedFd, name: &str, limit: usize) -> Result<Vec<u8>, FsRefusal> {
    match inspect(dir, name, false)? {
        Target::Missing => Err(FsRefusal::Missing(name.to_owned())),
        Target::Regular(mut regular) => {
            read_up_to(&mut regular.file, limit)?.ok_or(FsRefusal::Io {
                context: "file larger than expected",
                errno: Errno::FBIG,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn home_with(resolver: Resolver) -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let mut home = Home::open(dir.path()).unwrap();
        home.resolver = resolver;
        (dir, home)
    }

    fn path(p: &str) -> RelativePath {
        qcs_protocol::path::validate_relative_path(p).unwrap()
    }

    #[test]
    fn openat2_is_used_where_the_kernel_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(dir.path()).unwrap();
        // Informational: CI kernels have had openat2 since 5.6.
        println!("resolver on this kernel: {:?}", home.resolver());
    }

    #[test]
    fn both_resolvers_refuse_symlinks_and_create_with_0700() {
        for resolver in [Resolver::Openat2, Resolver::OpenatChain] {
            let (dir, home) = home_with(resolver);
            symlink("/", dir.path().join("root")).unwrap();
            std::fs::write(dir.path().join("file"), b"x").unwrap();
            assert!(matches!(
                home.open_parent(&path("root/etc/passwd"), true),
                Err(FsRefusal::Symlink(c)) if c == "root"
            ));
            assert!(matches!(
                home.open_parent(&path("file/x"), true),
                Err(FsRefusal::NotADirectory(c)) if c == "file"
            ));
            assert!(matches!(
                home.open_parent(&path("a/b/c"), false),
                Err(FsRefusal::Missing(c)) if c == "a"
            ));
            assert!(
                !dir.path().join("a").exists(),
                "{resolver:?} created without create"
            );
            home.open_parent(&path("a/b/c"), true).unwrap();
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("a/b"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700 & !current_umask(), "{resolver:?}");
        }
    }

    /// Read, not set: setting the umask would race with other tests.
    fn current_umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    #[test]
    fn both_temp_file_strategies_publish_complete_files() {
        let (dir, home) = home_with(Resolver::Openat2);
        let fd = home.open_dir(&[], false).unwrap();
        // O_TMPFILE, linked once complete.
        let unnamed = prepare_temp(&fd, b"one", 0o644).unwrap();
        if !matches!(unnamed, PreparedTemp::Unnamed(_)) {
            println!("no O_TMPFILE on this file system: the named fallback was used twice");
        }
        let name = unnamed.link(&fd).unwrap();
        publish_new(&fd, &name, "a").unwrap();
        // The named fallback.
        let name = write_named_temp(&fd, b"two", 0o600).unwrap();
        publish_new(&fd, &name, "b").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"one");
        assert_eq!(std::fs::read(dir.path().join("b")).unwrap(), b"two");
        // Never replaces an existing file.
        let name = write_named_temp(&fd, b"three", 0o600).unwrap();
        assert!(matches!(
            publish_new(&fd, &name, "a"),
            Err(FsRefusal::Raced)
        ));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}"); // a, b and the unpublished temp
        // A prepared file that is discarded leaves nothing.
        prepare_temp(&fd, b"x", 0o600).unwrap().discard(&fd);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn fallback_without_rename_exchange_detects_a_swapped_in_symlink() {
        let (dir, home) = home_with(Resolver::OpenatChain);
        let fd = home.open_dir(&[], false).unwrap();
        std::fs::write(dir.path().join("t"), b"old").unwrap();
        std::fs::write(dir.path().join("elsewhere"), b"keep").unwrap();
        let Target::Regular(checked) = inspect(&fd, "t", false).unwrap() else {
            panic!("regular file expected")
        };
        // Swapped in after the check: refused, nothing replaced.
        std::fs::remove_file(dir.path().join("t")).unwrap();
        symlink(dir.path().join("elsewhere"), dir.path().join("t")).unwrap();
        let temp = write_named_temp(&fd, b"new", 0o644).unwrap();
        assert!(matches!(
            rename_over_checked(&fd, &temp, "t", &checked),
            Err(FsRefusal::Raced)
        ));
        assert!(
            std::fs::symlink_metadata(dir.path().join("t"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(
            std::fs::read(dir.path().join("elsewhere")).unwrap(),
            b"keep"
        );
        // Unchanged target: replaced.
        std::fs::remove_file(dir.path().join("t")).unwrap();
        std::fs::write(dir.path().join("t"), b"old").unwrap();
        let Target::Regular(checked) = inspect(&fd, "t", false).unwrap() else {
            panic!("regular file expected")
        };
        rename_over_checked(&fd, &temp, "t", &checked).unwrap();
        assert_eq!(std::fs::read(dir.path().join("t")).unwrap(), b"new");
    }

    #[test]
    fn symlinked_home_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        symlink(dir.path().join("real"), dir.path().join("home")).unwrap();
        assert!(matches!(
            Home::open(&dir.path().join("home")),
            Err(FsRefusal::Symlink(_))
        ));
        assert!(Home::open(Path::new("relative")).is_err());
    }
}
