//! Reading op-logs: the tab-separated request log the library writes
//! (`S3DLIO_OPLOG` / `start_oplog`), plain or zstd-compressed (a name
//! ending in `.zst`), one file or many (a job's workers each write one).
//!
//! The first line is [`HEADER`]; every other line is one request. Bad
//! input is an error naming the file and the line. A last line cut short
//! (no `\n`, as a killed process leaves it) that does not parse is
//! skipped with a warning: everything before it is still the job's I/O.
//! So is a compressed log whose stream ends early (never finished): the
//! lines it holds are read, with a warning.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use s3dlio_core::{Error, Result};

/// The header line, the columns in order.
pub const HEADER: &str = "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns";

const COLUMNS: usize = 13;

/// The operations a log names: the core's, by their log names.
pub use s3dlio_core::metrics::Op;

/// One logged request. Times are nanoseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub idx: u64,
    pub thread: u64,
    pub op: Op,
    pub client_id: String,
    pub n_objects: u64,
    pub bytes: u64,
    pub endpoint: String,
    pub file: String,
    pub error: String,
    pub start_ns: i128,
    pub first_byte_ns: Option<i128>,
    pub end_ns: i128,
    pub duration_ns: u64,
}

/// Every request of every log in `paths`, in the order of their start
/// times (the logs merged).
pub fn read_logs(paths: &[String]) -> Result<Vec<Record>> {
    let mut all = Vec::new();
    for path in paths {
        all.extend(read_log(Path::new(path))?);
    }
    all.sort_by_key(|r| r.start_ns);
    Ok(all)
}

/// The requests of one log, in file order.
pub fn read_log(path: &Path) -> Result<Vec<Record>> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| Error::from_io(&name, e))?;
    let reader: Box<dyn Read> = if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| Error::from_io(&name, e))?)
    } else {
        Box::new(file)
    };
    parse(&name, BufReader::new(reader))
}

fn bad(name: &str, line: usize, why: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{name}:{line}: {why}"))
}

/// The requests of a log read from `reader` (`name` is for errors).
pub fn parse(name: &str, mut reader: impl BufRead) -> Result<Vec<Record>> {
    let mut records = Vec::new();
    let mut buf = String::new();
    let mut line = 0;
    loop {
        buf.clear();
        let n = match reader.read_line(&mut buf) {
            Ok(n) => n,
            // A compressed log that a killed process never finished: its
            // lines up to the last flush are still the job's I/O.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && line > 0 => {
                eprintln!(
                    "s3dlio: warning: {name}:{}: the compressed log ends early ({e}); \
                     read the {} requests before",
                    line + 1,
                    records.len()
                );
                break;
            }
            Err(e) => {
                let why = format!("line {}: {e}", line + 1);
                return Err(Error::from_io(name, std::io::Error::new(e.kind(), why)));
            }
        };
        if n == 0 {
            break;
        }
        line += 1;
        let complete = buf.ends_with('\n');
        let text = buf.strip_suffix('\n').unwrap_or(&buf);
        if line == 1 {
            if text != HEADER {
                return Err(bad(
                    name,
                    1,
                    format!("not an op-log: the first line is not the header {HEADER:?}"),
                ));
            }
            continue;
        }
        match parse_line(text) {
            Ok(record) => records.push(record),
            Err(why) if !complete => {
                eprintln!("s3dlio: warning: {name}:{line}: skipping a cut-short last line ({why})");
            }
            Err(why) => return Err(bad(name, line, why)),
        }
    }
    if line == 0 {
        return Err(bad(name, 1, "empty file (no header)"));
    }
    Ok(records)
}

fn number(column: &str, s: &str) -> std::result::Result<u64, String> {
    s.parse()
        .map_err(|_| format!("{column} {s:?} is not a non-negative integer"))
}

fn parse_line(text: &str) -> std::result::Result<Record, String> {
    let fields: Vec<&str> = text.split('\t').collect();
    if fields.len() != COLUMNS {
        return Err(format!(
            "{} tab-separated fields where the header has {COLUMNS}",
            fields.len()
        ));
    }
    let op = Op::from_log_name(fields[2]).ok_or_else(|| format!("unknown op {:?}", fields[2]))?;
    let time = |column: &str, s: &str| {
        parse_time(s).ok_or_else(|| format!("{column} {s:?} is not an RFC 3339 UTC time"))
    };
    let first_byte_ns = match fields[10] {
        "" => None,
        s => Some(time("first_byte", s)?),
    };
    let record = Record {
        idx: number("idx", fields[0])?,
        thread: number("thread", fields[1])?,
        op,
        client_id: fields[3].to_owned(),
        n_objects: number("n_objects", fields[4])?,
        bytes: number("bytes", fields[5])?,
        endpoint: fields[6].to_owned(),
        file: fields[7].to_owned(),
        error: fields[8].to_owned(),
        start_ns: time("start", fields[9])?,
        first_byte_ns,
        end_ns: time("end", fields[11])?,
        duration_ns: number("duration_ns", fields[12])?,
    };
    if record.end_ns < record.start_ns {
        return Err("end is before start".to_owned());
    }
    Ok(record)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` as nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))?;
    let (date, time) = s.split_once(['T', 't'])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = digits(date_parts.next()?, 4)?;
    let month: i64 = digits(date_parts.next()?, 2)?;
    let day: i64 = digits(date_parts.next()?, 2)?;
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, f))
            if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let scale = 10i128.pow(9 - f.len() as u32);
            (hms, f.parse::<i128>().ok()? * scale)
        }
        Some(_) => return None,
        None => (time, 0),
    };
    let mut time_parts = hms.splitn(3, ':');
    let h: i64 = digits(time_parts.next()?, 2)?;
    let m: i64 = digits(time_parts.next()?, 2)?;
    let sec: i64 = digits(time_parts.next()?, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec;
    Some(i128::from(secs) * 1_000_000_000 + fraction)
}

fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LINE: &str = "0\t3\tGET_RANGE\ts3dlio-42\t1\t100\thttp://127.0.0.1:9000\ts3://b/k\t\t2026-12-01T18:30:00.123456789Z\t2026-12-01T18:30:00.2Z\t2026-12-01T18:30:01Z\t876543211";

    #[test]
    fn times_parse_to_nanoseconds() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2000-02-29T00:00:00.5Z"),
            Some(951_782_400_500_000_000)
        );
        assert_eq!(
            parse_time("2024-02-29T23:59:59.000000001Z"),
            Some(1_709_251_199_000_000_001)
        );
        for bad in [
            "2024-02-29T23:59:59",
            "2024-2-29T23:59:59Z",
            "2024-02-29 23:59:59Z",
            "2024-13-01T00:00:00Z",
            "2024-02-29T23:59:59.Z",
            "2024-02-29T23:59:59.1234567890Z",
            "",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_line_parses_to_its_columns() {
        let log = format!("{HEADER}\n{LINE}\n");
        let records = parse("ops.tsv", log.as_bytes()).unwrap();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!((r.idx, r.thread, r.op), (0, 3, Op::GetRange));
        assert_eq!(
            (r.client_id.as_str(), r.n_objects, r.bytes),
            ("s3dlio-42", 1, 100)
        );
        assert_eq!(r.endpoint, "http://127.0.0.1:9000");
        assert_eq!((r.file.as_str(), r.error.as_str()), ("s3://b/k", ""));
        let start = parse_time("2026-12-01T18:30:00Z").unwrap();
        assert_eq!(r.start_ns - start, 123_456_789);
        assert_eq!(r.first_byte_ns.unwrap() - start, 200_000_000);
        assert_eq!(r.end_ns - start, 1_000_000_000);
        assert_eq!(r.duration_ns, 876_543_211);
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let err = parse("x.tsv", "idx\tthread\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("x.tsv:1:"), "{err}");
        let err = parse("x.tsv", "".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("x.tsv:1:"), "{err}");
        let cases = [
            (LINE.replace("GET_RANGE", "POST"), "unknown op"),
            (LINE.replace("\t100\t", "\t-1\t"), "bytes"),
            (LINE.replace("18:30:01Z", "18:30:01"), "end"),
            (LINE.replace("\t3\t", "\t"), "12 tab-separated fields"),
            (LINE.replace("18:30:01Z", "18:29:01Z"), "before start"),
        ];
        for (line, why) in cases {
            let log = format!("{HEADER}\n{LINE}\n{line}\n{LINE}\n");
            let err = parse("x.tsv", log.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("x.tsv:3:") && err.contains(why), "{err}");
        }
    }

    #[test]
    fn a_cut_short_last_line_is_skipped() {
        let log = format!("{HEADER}\n{LINE}\n{}", &LINE[..20]);
        assert_eq!(parse("x.tsv", log.as_bytes()).unwrap().len(), 1);
        // A complete last line without a newline is still read.
        let log = format!("{HEADER}\n{LINE}\n{LINE}");
        assert_eq!(parse("x.tsv", log.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn zstd_logs_and_many_files_merge_by_start() {
        let dir = tempfile::tempdir().unwrap();
        let later = LINE.replace("18:30:00.123456789Z", "18:30:00.5Z");
        let plain = dir.path().join("ops.tsv");
        std::fs::write(&plain, format!("{HEADER}\n{later}\n")).unwrap();
        let packed = dir.path().join("ops.tsv.7.zst");
        let mut enc = zstd::stream::write::Encoder::new(File::create(&packed).unwrap(), 3).unwrap();
        write!(enc, "{HEADER}\n{LINE}\n").unwrap();
        enc.finish().unwrap();
        let paths = [plain, packed].map(|p| p.display().to_string());
        let records = read_logs(&paths).unwrap();
        assert_eq!(records.len(), 2);
        assert!(records[0].start_ns < records[1].start_ns);
        let missing = read_logs(&["/nonexistent/ops.tsv".to_owned()]).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/ops.tsv"),
            "{missing}"
        );
    }

    #[test]
    fn an_unfinished_zstd_log_gives_the_lines_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let packed = dir.path().join("ops.tsv.zst");
        let mut enc = zstd::stream::write::Encoder::new(File::create(&packed).unwrap(), 3).unwrap();
        write!(enc, "{HEADER}\n{LINE}\n{LINE}\n{}", &LINE[..30]).unwrap();
        enc.flush().unwrap();
        drop(enc); // never finished, as by a killed process
        let records = read_log(&packed).unwrap();
        assert_eq!(records.len(), 2);
        // Garbage is not taken for a short stream.
        std::fs::write(&packed, b"not zstd at all").unwrap();
        let garbage = read_log(&packed).unwrap_err().to_string();
        assert!(garbage.contains("ops.tsv.zst: line 1:"), "{garbage}");
    }
}
