//! Reading a fetched chart archive (`.tgz`, as `helm package` writes it)
//! in memory: its files by path below the chart's own directory, so a
//! remote chart's `values.yaml` and `Chart.yaml` (its dependencies) can be
//! read, and the chart written out with the dependencies weir fetched for
//! it.
//!
//! An archive is untrusted input: only regular files are taken (links and
//! devices are skipped), a path that is absolute or has a `..` segment is
//! an error, and the unpacked size and the number of entries are bounded.

use std::io::Read as _;

/// Most bytes the files of one archive may unpack to.
pub const MAX_UNPACKED: u64 = 64 * 1024 * 1024;
/// Most entries one archive may hold.
pub const MAX_ENTRIES: usize = 20_000;

const BLOCK: usize = 512;

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// Not gzip, or a tar stream cut short or malformed.
    #[error("the chart archive is not a gzip-compressed tar file: {0}")]
    Malformed(String),
    /// More than [`MAX_UNPACKED`] bytes or [`MAX_ENTRIES`] entries.
    #[error("the chart archive unpacks to more than weir takes ({0})")]
    TooLarge(String),
    /// An entry whose path leaves the archive.
    #[error("the chart archive has an entry whose path leaves it: `{0}`")]
    UnsafePath(String),
}

/// The regular files of the gzip-compressed tar `bytes`, each with its path
/// relative to the archive's top directory (`demo/values.yaml` →
/// `values.yaml`), in archive order.
pub fn chart_files(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_UNPACKED * 2 + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::Malformed(e.to_string()))?;
    if data.len() as u64 > MAX_UNPACKED * 2 {
        return Err(Error::TooLarge(format!(
            "more than {} MiB of tar stream",
            MAX_UNPACKED * 2 / (1024 * 1024)
        )));
    }
    let mut files = Vec::new();
    let mut total: u64 = 0;
    let mut entries = 0usize;
    let mut long_name: Option<String> = None;
    let mut offset = 0;
    while offset + BLOCK <= data.len() {
        let header = &data[offset..offset + BLOCK];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(Error::TooLarge(format!("more than {MAX_ENTRIES} entries")));
        }
        let size = octal(&header[124..136])
            .ok_or_else(|| Error::Malformed("an entry has a bad size".to_owned()))?;
        let start = offset + BLOCK;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|end| *end <= data.len())
            .ok_or_else(|| Error::Malformed("an entry is cut short".to_owned()))?;
        let body = &data[start..end];
        offset = start + body.len().div_ceil(BLOCK) * BLOCK;
        let name = || {
            let name = text(&header[0..100]);
            let prefix = text(&header[345..500]);
            if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            }
        };
        match header[156] {
            // A PAX header: its `path` names the next entry.
            b'x' => long_name = pax_path(body),
            // A GNU long name: the next entry's name.
            b'L' => long_name = Some(text(body)),
            b'0' | 0 => {
                let path = long_name.take().unwrap_or_else(name);
                total += size;
                if total > MAX_UNPACKED {
                    return Err(Error::TooLarge(format!(
                        "more than {} MiB of files",
                        MAX_UNPACKED / (1024 * 1024)
                    )));
                }
                let path = path.trim_start_matches("./");
                if path.starts_with('/') || path.split('/').any(|p| p == "..") {
                    return Err(Error::UnsafePath(path.to_owned()));
                }
                if let Some((_, relative)) = path.split_once('/')
                    && !relative.is_empty()
                {
                    files.push((relative.to_owned(), body.to_vec()));
                }
            }
            // Directories, links, devices, global headers: nothing to take.
            _ => long_name = None,
        }
    }
    Ok(files)
}

/// A NUL-terminated header field as text.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// An octal header number (spaces and NULs around it).
fn octal(field: &[u8]) -> Option<u64> {
    let digits = text(field);
    let digits = digits.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// The `path` record of a PAX extended header (`<len> path=<value>\n`).
fn pax_path(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    text.lines().find_map(|line| {
        let (_, record) = line.split_once(' ')?;
        record.strip_prefix("path=").map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn header(name: &str, size: usize, kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let size = format!("{size:011o}\0");
        h[124..136].copy_from_slice(size.as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    fn tgz(entries: &[(&str, &[u8], u8)]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (name, body, kind) in entries {
            tar.extend(header(name, body.len(), *kind));
            tar.extend_from_slice(body);
            tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        tar.extend(vec![0u8; BLOCK * 2]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn files_are_read_below_the_chart_directory() {
        let pax = b"30 path=demo/templates/long.yaml\n";
        let bytes = tgz(&[
            ("demo/", b"", b'5'),
            ("demo/Chart.yaml", b"name: demo\n", b'0'),
            ("demo/link", b"", b'2'),
            ("PaxHeaders/x", pax, b'x'),
            ("demo/templates/short", b"kind: A\n", b'0'),
        ]);
        let files = chart_files(&bytes).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Chart.yaml", "templates/long.yaml"]);
        assert_eq!(files[0].1, b"name: demo\n");
    }

    #[test]
    fn hostile_archives_are_refused() {
        let bytes = tgz(&[("demo/../../etc/passwd", b"x", b'0')]);
        assert!(matches!(chart_files(&bytes), Err(Error::UnsafePath(_))));
        assert!(matches!(chart_files(b"not gzip"), Err(Error::Malformed(_))));
        let mut cut = header("demo/a", 4096, b'0');
        cut.extend(vec![1u8; 10]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&cut).unwrap();
        assert!(matches!(
            chart_files(&gz.finish().unwrap()),
            Err(Error::Malformed(_))
        ));
    }
}
