//! The kept outputs against a temporary state directory: spill, pages, cursors, quota, restart.

use std::os::unix::fs::PermissionsExt;

use super::page::Encoding;
use super::spill::OutputSink;
use super::*;

impl OutputStore {
    async fn read_now(&self, req: PageRequest) -> Result<Page, DaemonError> {
        self.read(req, &tokio_util::task::TaskTracker::new()).await
    }
}

fn store(dir: &Path, quota: u64) -> OutputStore {
    OutputStore::open(dir.join("outputs"), quota, DEFAULT_KEEP)
}

fn request(id: &str, stream: Stream, offset: Option<u64>, max_bytes: u64) -> PageRequest {
    PageRequest {
        output_id: id.to_owned(),
        stream,
        offset,
        max_bytes,
        max_chars: PageRequest::chars_for(max_bytes),
        reader: "r1".into(),
    }
}

/// Runs `sink` over `stdout` and `stderr` in chunks, as a command's readers would.
fn fill(sink: &OutputSink, stdout: &[u8], stderr: &[u8]) -> Option<(String, [StreamKept; 2])> {
    for chunk in stdout.chunks(7000) {
        sink.push(Stream::Stdout, chunk);
    }
    for chunk in stderr.chunks(7000) {
        sink.push(Stream::Stderr, chunk);
    }
    sink.finish()
}

#[tokio::test]
async fn a_short_output_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 1 << 20);
    let sink = OutputSink::new(s.clone(), OutputStore::new_id(), 4096, 1 << 20);
    assert!(fill(&sink, b"hello\n", b"").is_none());
    assert_eq!((s.count(), s.used_bytes()), (0, 0));
}

#[tokio::test]
async fn a_long_output_is_read_back_exactly_in_pages_with_a_cursor_per_reader() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 1 << 30);
    let id = OutputStore::new_id();
    let stdout: Vec<u8> = (0..40_000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let sink = OutputSink::new(s.clone(), id.clone(), 4096, 1 << 30);
    let (kept_id, streams) = fill(&sink, &stdout, b"warn\n").unwrap();
    assert_eq!(kept_id, id);
    assert_eq!(streams[0].kept, stdout.len() as u64);
    // The short stream is kept whole too.
    assert_eq!((streams[1].kept, streams[1].written), (5, 5));
    let mut back = Vec::new();
    loop {
        let page = s
            .read_now(request(&id, Stream::Stdout, None, 50_000))
            .await
            .unwrap();
        assert_eq!(page.offset as usize, back.len());
        assert_eq!(page.encoding, Encoding::Utf8);
        back.extend_from_slice(&page.data);
        assert_eq!(page.next_offset as usize, back.len());
        if page.eof {
            break;
        }
    }
    assert_eq!(back, stdout);
    // Another reader starts at the beginning; an explicit offset re-reads.
    let mut other = request(&id, Stream::Stdout, None, 10);
    other.reader = "r2".into();
    assert_eq!(s.read_now(other).await.unwrap().data, b"line 0\nlin");
    let again = s
        .read_now(request(&id, Stream::Stdout, Some(5), 3))
        .await
        .unwrap();
    assert_eq!(
        (again.data.as_slice(), again.next_offset),
        (&b"0\nl"[..], 8)
    );
    let err = s
        .read_now(request(&id, Stream::Stderr, None, 100))
        .await
        .unwrap();
    assert_eq!((err.data.as_slice(), err.eof), (&b"warn\n"[..], true));
    // Files are the user's alone.
    let mode = std::fs::metadata(s.stream_path(&id, Stream::Stdout))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(s.path(&id)).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}

#[tokio::test]
async fn binary_pages_come_raw_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 1 << 30);
    let id = OutputStore::new_id();
    let bin: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let sink = OutputSink::new(s.clone(), id.clone(), 4096, 1 << 30);
    fill(&sink, &bin, b"").unwrap();
    let mut back = Vec::new();
    loop {
        let page = s
            .read_now(request(&id, Stream::Stdout, None, 30_000))
            .await
            .unwrap();
        assert_eq!(page.encoding, Encoding::Base64);
        back.extend_from_slice(&page.data);
        if page.eof {
            break;
        }
    }
    assert_eq!(back, bin);
}

#[tokio::test]
async fn the_limit_and_the_quota_say_what_was_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 1 << 30);
    let sink = OutputSink::new(s.clone(), OutputStore::new_id(), 1024, 10_000);
    let (_, streams) = fill(&sink, &[b'x'; 50_000], b"").unwrap();
    assert_eq!((streams[0].kept, streams[0].written), (10_000, 50_000));
    assert!(
        streams[0]
            .note
            .as_deref()
            .unwrap()
            .contains("max_output_bytes (10000)")
    );

    // A quota of 100 KB: a second output of 60 KB pushes the first out.
    let small = store(&dir.path().join("q"), 100_000);
    let first = OutputStore::new_id();
    fill(
        &OutputSink::new(small.clone(), first.clone(), 1024, 1 << 30),
        &[b'a'; 60_000],
        b"",
    )
    .unwrap();
    let second = OutputStore::new_id();
    fill(
        &OutputSink::new(small.clone(), second.clone(), 1024, 1 << 30),
        &[b'b'; 60_000],
        b"",
    )
    .unwrap();
    assert_eq!(small.count(), 1);
    assert_eq!(small.used_bytes(), 60_000);
    let gone = small
        .read_now(request(&first, Stream::Stdout, None, 10))
        .await
        .unwrap_err();
    assert!(gone.to_string().contains("no kept output"), "{gone}");
    assert!(!small.path(&first).exists());
    // One output larger than the whole quota keeps what fits and says why.
    let (_, streams) = fill(
        &OutputSink::new(small.clone(), OutputStore::new_id(), 1024, 1 << 30),
        &[b'c'; 150_000],
        b"",
    )
    .unwrap();
    assert!(streams[0].kept <= 100_000, "{}", streams[0].kept);
    assert!(
        streams[0].note.as_deref().unwrap().contains("quota"),
        "{:?}",
        streams[0].note
    );
    assert!(small.used_bytes() <= 100_000);
}

#[tokio::test]
async fn a_restarted_daemon_finds_finished_outputs_and_drops_unfinished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 1 << 30);
    let done = OutputStore::new_id();
    fill(
        &OutputSink::new(s.clone(), done.clone(), 1024, 1 << 30),
        &[b'd'; 5000],
        b"",
    )
    .unwrap();
    let cut = OutputStore::new_id();
    let unfinished = OutputSink::new(s.clone(), cut.clone(), 1024, 1 << 30);
    unfinished.push(Stream::Stdout, &[b'u'; 5000]);
    // A stray name that is no output of ours.
    std::fs::create_dir(dir.path().join("outputs").join("not-an-output")).unwrap();
    drop(s);

    let again = store(dir.path(), 1 << 30);
    assert_eq!(again.count(), 1);
    assert_eq!(again.used_bytes(), 5000);
    let page = again
        .read_now(request(&done, Stream::Stdout, None, 100_000))
        .await
        .unwrap();
    assert_eq!((page.data.len(), page.eof), (5000, true));
    assert!(!dir.path().join("outputs").join(&cut).exists());
    assert!(!dir.path().join("outputs").join("not-an-output").exists());
}

#[test]
fn ids_name_nothing_but_outputs() {
    assert!(valid_id(&OutputStore::new_id()));
    for bad in [
        "",
        "out-",
        "out-../../etc",
        "out-0123456789abcdeg",
        "x-0123456789abcdef",
        "out-0123456789abcdef0",
    ] {
        assert!(!valid_id(bad), "{bad}");
    }
}

#[tokio::test]
async fn an_offset_past_the_end_is_refused_with_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), 1 << 30);
    let id = OutputStore::new_id();
    fill(
        &OutputSink::new(s.clone(), id.clone(), 1024, 1 << 30),
        &[b'x'; 3000],
        b"",
    )
    .unwrap();
    let e = s
        .read_now(request(&id, Stream::Stdout, Some(3001), 10))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("3000 bytes kept"), "{e}");
    let end = s
        .read_now(request(&id, Stream::Stdout, Some(3000), 10))
        .await
        .unwrap();
    assert!(end.data.is_empty() && end.eof);
}
