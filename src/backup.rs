//! Backups of a live database and restoring them: `necsus backup` writes a
//! consistent snapshot (`VACUUM INTO`, safe while the server writes),
//! gzipped, named by its UTC time; `necsus restore` checks a snapshot before
//! putting it in place and keeps the replaced database aside. A running
//! server holds a lock file beside its database, so a restore cannot pull
//! the database out from under it.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

const PREFIX: &str = "necsus-";
const SUFFIX: &str = ".db.gz";

/// The lock file a running server holds for `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the server's lock on `db`; held as long as the returned file is.
pub fn lock_database(db: &Path) -> Result<File, String> {
    let path = lock_path(db);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot create the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => Err(format!(
            "another NeCSuS server is using {} (it holds {})",
            db.display(),
            path.display()
        )),
    }
}

/// `2026-01-05T03-15-00Z`: sortable, and safe in file names everywhere.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (the proleptic Gregorian
    // calendar, counted in 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn options(path: &Path) -> Result<SqliteConnectOptions, String> {
    Ok(SqliteConnectOptions::from_str("sqlite://")
        .map_err(|e| e.to_string())?
        .filename(path))
}

/// Copies `from` to `to` through `transform`, reporting progress on stderr
/// for large files.
fn copy_with_progress(
    label: &str,
    from: &mut impl Read,
    total: u64,
    to: &mut impl Write,
) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut done, mut shown) = (0u64, 0u64);
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])?;
        done += n as u64;
        if total >= 64 << 20 && done * 10 / total > shown {
            shown = done * 10 / total;
            eprintln!("{label}: {}%", shown * 10);
        }
    }
    Ok(())
}

/// Writes a gzipped snapshot of `db` into `dir`; returns its path. With
/// `keep`, only the newest `keep` snapshots in `dir` remain.
pub async fn backup(db: &Path, dir: &Path, keep: Option<usize>) -> Result<PathBuf, String> {
    if !db.exists() {
        return Err(format!("there is no database at {}", db.display()));
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let stamp = utc_stamp(SystemTime::now());
    let mut target = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    for n in 1.. {
        if !target.exists() {
            break;
        }
        target = dir.join(format!("{PREFIX}{stamp}-{n}{SUFFIX}"));
    }
    let snapshot = dir.join(format!(".{PREFIX}{stamp}.snapshot"));
    // A leftover of an interrupted run, if any (usually there is none).
    let _ = fs::remove_file(&snapshot);

    // VACUUM INTO reads one consistent snapshot (WAL readers never block
    // the writer, nor it them) and writes a compact copy.
    let mut conn = options(db)?
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    eprintln!("snapshotting {} …", db.display());
    sqlx::query("VACUUM INTO ?")
        .bind(snapshot.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .map_err(|e| format!("snapshot failed: {e}"))?;
    drop(conn);

    let (from, to) = (snapshot.clone(), target.clone());
    let zipped = tokio::task::spawn_blocking(move || -> io::Result<()> {
        let total = fs::metadata(&from)?.len();
        let mut input = BufReader::new(File::open(&from)?);
        let partial = to.with_extension("gz.partial");
        let mut gz = flate2::write::GzEncoder::new(
            BufWriter::new(File::create(&partial)?),
            flate2::Compression::default(),
        );
        copy_with_progress("compressing", &mut input, total, &mut gz)?;
        gz.finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        fs::rename(&partial, &to)
    })
    .await
    .map_err(|e| e.to_string())?;
    // Cleanup of a temporary file; the backup's own result is what counts.
    let _ = fs::remove_file(&snapshot);
    zipped.map_err(|e| format!("writing {} failed: {e}", target.display()))?;

    if let Some(keep) = keep {
        prune(dir, keep).map_err(|e| format!("pruning old backups failed: {e}"))?;
    }
    Ok(target)
}

/// Deletes all but the newest `keep` snapshots (names sort by time).
fn prune(dir: &Path, keep: usize) -> io::Result<()> {
    let mut backups: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        fs::remove_file(old)?;
    }
    Ok(())
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub messages: i64,
    /// Where the database that was replaced now is, if there was one.
    pub replaced: Option<PathBuf>,
}

/// Puts the snapshot `backup` in place at `db` after checking it.
pub async fn restore(backup: &Path, db: &Path) -> Result<Restored, String> {
    // Refuse while a server holds the database; keep the lock meanwhile so
    // none starts during the restore.
    let _lock = lock_database(db)?;
    let mut staged = db.as_os_str().to_owned();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    let (from, to) = (backup.to_owned(), staged.clone());
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        let total = fs::metadata(&from)?.len();
        let mut gz = flate2::read::GzDecoder::new(BufReader::new(File::open(&from)?));
        let mut out = BufWriter::new(File::create(&to)?);
        copy_with_progress("decompressing", &mut gz, total, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| {
        // Cleanup of the staged copy; the error reported is the read's.
        let _ = fs::remove_file(&staged);
        format!("cannot read the backup {}: {e}", backup.display())
    })?;

    let checked = check(&staged).await;
    let messages = match checked {
        Ok(n) => n,
        Err(e) => {
            // Cleanup of the staged copy; the error reported is the read's.
            let _ = fs::remove_file(&staged);
            return Err(e);
        }
    };
    // Ids never repeat: new messages start above every id the replaced
    // database issued, and the ids the snapshot never had are noted so
    // browsers that saw them are told to clear and replay.
    if db.exists() {
        let keep_ids = match last_issued_id(db).await {
            Ok(issued) => continue_ids_after(&staged, issued).await,
            Err(e) => Err(e),
        };
        if let Err(e) = keep_ids {
            // Cleanup of the staged copy; the error reported is the read's.
            let _ = fs::remove_file(&staged);
            return Err(e);
        }
    }
    let replaced = if db.exists() {
        let mut aside = db.as_os_str().to_owned();
        aside.push(format!(".replaced-{}", utc_stamp(SystemTime::now())));
        let aside = PathBuf::from(aside);
        fs::rename(db, &aside).map_err(|e| format!("cannot move {} aside: {e}", db.display()))?;
        // The WAL belongs with its database: move it along, untouched.
        for suffix in ["-wal", "-shm"] {
            let mut from = db.as_os_str().to_owned();
            from.push(suffix);
            let mut to = aside.as_os_str().to_owned();
            to.push(suffix);
            if Path::new(&from).exists() {
                fs::rename(&from, &to).map_err(|e| format!("cannot move {from:?} aside: {e}"))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    fs::rename(&staged, db).map_err(|e| format!("cannot put the backup in place: {e}"))?;
    Ok(Restored { messages, replaced })
}

/// The largest message id the database at `path` ever issued (0 if none).
async fn last_issued_id(path: &Path) -> Result<i64, String> {
    let mut conn = options(path)?
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let row =
        sqlx::query("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'messages'")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("cannot read the message ids of {}: {e}", path.display()))?;
    // Read-only and done: a failed close loses nothing.
    let _ = conn.close().await;
    row.try_get(0).map_err(|e| e.to_string())
}

/// Makes the database at `path` hand out ids above `issued`, and notes
/// the ids between its own newest and `issued` as a gap.
async fn continue_ids_after(path: &Path, issued: i64) -> Result<(), String> {
    let fail = |e: sqlx::Error| format!("cannot carry the message ids over: {e}");
    let mut conn = options(path)?.connect().await.map_err(fail)?;
    let mut tx = conn.begin().await.map_err(fail)?;
    let row =
        sqlx::query("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'messages'")
            .fetch_one(&mut *tx)
            .await
            .map_err(fail)?;
    let own: i64 = row.try_get(0).map_err(fail)?;
    if issued > own {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS id_gaps (after_id INTEGER NOT NULL, up_to_id INTEGER NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        sqlx::query("INSERT INTO id_gaps (after_id, up_to_id) VALUES (?, ?)")
            .bind(own)
            .bind(issued)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        sqlx::query("DELETE FROM sqlite_sequence WHERE name = 'messages'")
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)")
            .bind(issued)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)?;
    conn.close().await.map_err(fail)
}

/// `PRAGMA integrity_check`, and that it is a NeCSuS database.
async fn check(path: &Path) -> Result<i64, String> {
    let mut conn = options(path)?
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("the backup is not a database: {e}"))?;
    let verdict: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| format!("the backup is not a readable database: {e}"))?;
    if verdict != "ok" {
        return Err(format!("the backup failed its integrity check: {verdict}"));
    }
    sqlx::query("SELECT count(*) FROM messages")
        .fetch_one(&mut conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| format!("the backup is not a NeCSuS database: {e}"))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn stamps_are_utc_and_filename_safe() {
        let t = UNIX_EPOCH + Duration::from_secs(1_767_582_900); // 2026-01-05 03:15:00 UTC
        assert_eq!(super::utc_stamp(t), "2026-01-05T03-15-00Z");
        assert_eq!(super::utc_stamp(UNIX_EPOCH), "1970-01-01T00-00-00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(super::utc_stamp(leap), "2000-02-29T00-00-00Z");
    }
}
