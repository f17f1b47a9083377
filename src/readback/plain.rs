//! What proves a plain dump whole: pg_dump writes a header comment first
//! and a completion comment last, so a dump cut short before it was
//! compressed (which decompresses fine) lacks the last one. pg_dumpall
//! (a cluster's globals) does the same with lines of its own.

/// A plain dump begins and ends with these lines.
const HEADER: &str = "-- PostgreSQL database dump";
const FOOTER: &str = "-- PostgreSQL database dump complete";
/// pg_dumpall's.
const CLUSTER_HEADER: &str = "-- PostgreSQL database cluster dump";
const CLUSTER_FOOTER: &str = "-- PostgreSQL database cluster dump complete";
/// Bytes kept from each end of the dump to look for them.
const EDGE: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Database,
    Cluster,
}

/// Keeps the first and last bytes of a stream of chunks.
#[derive(Debug, Default)]
pub struct Edges {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Edges {
    pub fn update(&mut self, chunk: &[u8]) {
        if self.head.len() < EDGE {
            let take = (EDGE - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        let keep = chunk.len().min(EDGE);
        self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        if self.tail.len() > EDGE {
            self.tail.drain(..self.tail.len() - EDGE);
        }
    }

    /// Why the stream seen so far is not a whole plain dump, if it is not.
    pub fn problem(&self) -> Option<&'static str> {
        let footer = match self.kind() {
            Some(Kind::Database) => FOOTER,
            Some(Kind::Cluster) => CLUSTER_FOOTER,
            None => return Some("it does not begin like a pg_dump plain dump"),
        };
        if !String::from_utf8_lossy(&self.tail).contains(footer) {
            return Some("it lacks pg_dump's completion marker: the dump is truncated");
        }
        None
    }

    /// Whether it is pg_dumpall's (a cluster's globals), not pg_dump's.
    pub fn is_cluster_dump(&self) -> bool {
        self.kind() == Some(Kind::Cluster)
    }

    /// Whose dump it is: the header line that comes first says.
    fn kind(&self) -> Option<Kind> {
        let head = String::from_utf8_lossy(&self.head);
        let at = |line: &str| head.find(line).unwrap_or(usize::MAX);
        let (database, cluster) = (at(HEADER), at(CLUSTER_HEADER));
        match database.min(cluster) {
            usize::MAX => None,
            first if first == cluster => Some(Kind::Cluster),
            _ => Some(Kind::Database),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(rows: usize) -> Vec<u8> {
        let mut text = String::from("--\n-- PostgreSQL database dump\n--\n\n");
        for i in 0..rows {
            text.push_str(&format!("{i}\tsome row data\n"));
        }
        text.push_str("\n--\n-- PostgreSQL database dump complete\n--\n\n");
        text.into_bytes()
    }

    fn edges_of(data: &[u8], chunk: usize) -> Edges {
        let mut edges = Edges::default();
        for piece in data.chunks(chunk) {
            edges.update(piece);
        }
        edges
    }

    #[test]
    fn a_whole_dump_passes_in_any_chunking() {
        let data = dump(10_000);
        for chunk in [1, 7, 4096, 8192, 100_000, data.len()] {
            assert_eq!(edges_of(&data, chunk).problem(), None, "chunk {chunk}");
        }
    }

    #[test]
    fn a_dump_cut_anywhere_before_its_end_fails() {
        let data = dump(10_000);
        for cut in [10, data.len() / 2, data.len() - 20] {
            let problem = edges_of(&data[..cut], 4096).problem();
            assert!(problem.is_some(), "cut at {cut}");
        }
        assert_eq!(
            edges_of(&data[30..], 4096).problem(),
            Some("it does not begin like a pg_dump plain dump")
        );
    }

    #[test]
    fn a_cluster_dump_needs_its_own_completion_line() {
        let head = "--\n-- PostgreSQL database cluster dump\n--\n\nCREATE ROLE app;\n";
        let whole = format!("{head}\n--\n-- PostgreSQL database cluster dump complete\n--\n");
        let edges = edges_of(whole.as_bytes(), 7);
        assert_eq!(edges.problem(), None);
        assert!(edges.is_cluster_dump());
        let cut = edges_of(head.as_bytes(), 7);
        assert!(cut.problem().is_some_and(|p| p.contains("truncated")));
        // pg_dump's own completion line does not end pg_dumpall's dump.
        let mixed = format!("{head}-- PostgreSQL database dump complete\n");
        assert!(edges_of(mixed.as_bytes(), 7).problem().is_some());
        assert!(!edges_of(b"-- PostgreSQL database dump\n", 7).is_cluster_dump());
    }
}
