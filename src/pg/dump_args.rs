//! `pg_dump_args`: read the extra arguments the way pg_dump's getopt_long
//! does and allow only options that cannot subvert keepsake's backup.
//!
//! An allowlist, not a denylist: glibc's getopt_long accepts any
//! unambiguous prefix of a long option (`--form=c` is `--format=c`) and
//! bundles short options (`-vf/tmp/x`, `-aFc`), so a list of refused
//! spellings can never be complete. Every argument is parsed as pg_dump
//! would parse it, and only options known to be harmless pass.
//!
//! What is refused, and why:
//! - `-f/--file`, `-F/--format`, `-Z/--compress`: keepsake reads the dump
//!   from pg_dump's stdout and sets its format and compression itself; these
//!   would send the dump elsewhere or store one keepsake cannot restore;
//! - `-j/--jobs`: needs the directory format, which cannot be streamed;
//! - `-d/--dbname`, `-h/--host`, `-p/--port`, `-U/--username` and a
//!   positional database name: the job's `database` says where to connect;
//! - `-W/--password`: forces a password prompt (on a terminal it would
//!   block); `-w/--no-password` is allowed, keepsake passes it anyway;
//! - `-V/--version`, `-?/--help`: print text instead of a dump;
//! - `--binary-upgrade`: a dump only pg_upgrade can restore;
//! - `-C/--create`: CREATE DATABASE in a plain dump cannot run inside the
//!   single transaction keepsake restores in;
//! - `-c/--clean` without `--if-exists`: its DROP statements fail on an
//!   empty database, where a restore or a verification starts (and
//!   `--if-exists` without `-c`, which pg_dump itself refuses);
//! - an abbreviation, even of an allowed option: what a prefix means depends
//!   on the pg_dump version (a new option can make it ambiguous), so the
//!   configuration must spell options out;
//! - `--`: it would turn keepsake's own `--dbname` into a positional argument;
//! - a value missing at the end (`-t`): the option would take keepsake's
//!   own `--dbname` as its value;
//! - anything this table does not know.
//!
//! `--role` is allowed: SET ROLE only reaches roles the connecting user is
//! already a member of, and it is how dumps are often taken on managed
//! servers. `-v/--verbose` is allowed: it changes nothing in the dump, only
//! adds progress lines to stderr, which keepsake logs (as warnings), so it
//! is noisy and meant for debugging. Options that only choose what is dumped
//! (`-n`, `-t`, `-a`, `-s`, `--section`, `--exclude-table-data`, ...) are the
//! user's choice and pass.
//!
//! Messages name the option as written, never its value (a value can be a
//! connection string with a password in it).

use std::fmt;

/// Whether an option takes an argument, as in getopt_long's `has_arg`.
/// pg_dump has no `optional_argument` option, so there is no third kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arity {
    No,
    Required,
}

/// What keepsake does with an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Allow,
    /// Allowed only together with `--if-exists`.
    Clean,
    /// Allowed only together with `-c` (pg_dump refuses it alone).
    IfExists,
    Refuse(&'static str),
}

/// One pg_dump option: its short letter, its long names (aliases share an
/// entry, as they share a getopt value), its arity and keepsake's verdict.
struct Spec {
    short: Option<char>,
    long: &'static [&'static str],
    arity: Arity,
    verdict: Verdict,
}

const OUTPUT: &str = "is set by keepsake: the dump goes from pg_dump's output to storage";
const FORMAT: &str = "is set by keepsake: choose the job's `format`";
const COMPRESS: &str = "is set by keepsake: choose the job's `compression`";
const JOBS: &str = "needs pg_dump's directory format, which keepsake cannot stream";
const CONNECTION: &str = "is set by keepsake: the job's `database` says where to connect";
const PROMPT: &str =
    "would make pg_dump ask for a password; give it in the job's `password` instead";
const NO_DUMP: &str = "makes pg_dump print text instead of a dump";
const BINARY_UPGRADE: &str = "writes a dump that only pg_upgrade can restore";
const CREATE: &str = "puts CREATE DATABASE into a plain dump, which cannot run inside \
                      the single transaction keepsake restores in";

const fn spec(
    short: Option<char>,
    long: &'static [&'static str],
    arity: Arity,
    verdict: Verdict,
) -> Spec {
    Spec {
        short,
        long,
        arity,
        verdict,
    }
}

use Arity::{No, Required};
use Verdict::{Allow, Refuse};

/// pg_dump's getopt_long table, PostgreSQL 15 to 18 together (an option an
/// older pg_dump lacks only makes it fail loudly). `-?` and `-V` are not in
/// its optstring (pg_dump checks them in argv[1] only) but are refused by
/// name all the same.
const SPECS: &[Spec] = &[
    spec(Some('a'), &["data-only"], No, Allow),
    spec(Some('b'), &["blobs", "large-objects"], No, Allow),
    spec(Some('B'), &["no-blobs", "no-large-objects"], No, Allow),
    spec(Some('c'), &["clean"], No, Verdict::Clean),
    spec(Some('C'), &["create"], No, Refuse(CREATE)),
    spec(Some('d'), &["dbname"], Required, Refuse(CONNECTION)),
    spec(Some('e'), &["extension"], Required, Allow),
    spec(Some('E'), &["encoding"], Required, Allow),
    spec(Some('f'), &["file"], Required, Refuse(OUTPUT)),
    spec(Some('F'), &["format"], Required, Refuse(FORMAT)),
    spec(Some('h'), &["host"], Required, Refuse(CONNECTION)),
    spec(Some('j'), &["jobs"], Required, Refuse(JOBS)),
    spec(Some('n'), &["schema"], Required, Allow),
    spec(Some('N'), &["exclude-schema"], Required, Allow),
    spec(Some('O'), &["no-owner"], No, Allow),
    spec(Some('p'), &["port"], Required, Refuse(CONNECTION)),
    spec(Some('R'), &["no-reconnect"], No, Allow),
    spec(Some('s'), &["schema-only"], No, Allow),
    spec(Some('S'), &["superuser"], Required, Allow),
    spec(Some('t'), &["table"], Required, Allow),
    spec(Some('T'), &["exclude-table"], Required, Allow),
    spec(Some('U'), &["username"], Required, Refuse(CONNECTION)),
    spec(Some('v'), &["verbose"], No, Allow),
    spec(Some('V'), &["version"], No, Refuse(NO_DUMP)),
    spec(Some('w'), &["no-password"], No, Allow),
    spec(Some('W'), &["password"], No, Refuse(PROMPT)),
    spec(Some('x'), &["no-privileges", "no-acl"], No, Allow),
    spec(Some('Z'), &["compress"], Required, Refuse(COMPRESS)),
    spec(Some('?'), &["help"], No, Refuse(NO_DUMP)),
    spec(None, &["column-inserts", "attribute-inserts"], No, Allow),
    spec(None, &["binary-upgrade"], No, Refuse(BINARY_UPGRADE)),
    spec(None, &["disable-dollar-quoting"], No, Allow),
    spec(None, &["disable-triggers"], No, Allow),
    spec(None, &["enable-row-security"], No, Allow),
    spec(None, &["exclude-extension"], Required, Allow),
    spec(None, &["exclude-table-and-children"], Required, Allow),
    spec(None, &["exclude-table-data"], Required, Allow),
    spec(None, &["exclude-table-data-and-children"], Required, Allow),
    spec(None, &["extra-float-digits"], Required, Allow),
    spec(None, &["filter"], Required, Allow),
    spec(None, &["if-exists"], No, Verdict::IfExists),
    spec(None, &["include-foreign-data"], Required, Allow),
    spec(None, &["inserts"], No, Allow),
    spec(None, &["load-via-partition-root"], No, Allow),
    spec(None, &["lock-wait-timeout"], Required, Allow),
    spec(None, &["no-comments"], No, Allow),
    spec(None, &["no-data"], No, Allow),
    spec(None, &["no-policies"], No, Allow),
    spec(None, &["no-publications"], No, Allow),
    spec(None, &["no-schema"], No, Allow),
    spec(None, &["no-security-labels"], No, Allow),
    spec(None, &["no-statistics"], No, Allow),
    spec(None, &["no-subscriptions"], No, Allow),
    spec(None, &["no-sync"], No, Allow),
    spec(None, &["no-synchronized-snapshots"], No, Allow),
    spec(None, &["no-table-access-method"], No, Allow),
    spec(None, &["no-tablespaces"], No, Allow),
    spec(None, &["no-toast-compression"], No, Allow),
    spec(None, &["no-unlogged-table-data"], No, Allow),
    spec(None, &["on-conflict-do-nothing"], No, Allow),
    spec(None, &["quote-all-identifiers"], No, Allow),
    spec(None, &["restrict-key"], Required, Allow),
    spec(None, &["role"], Required, Allow),
    spec(None, &["rows-per-insert"], Required, Allow),
    spec(None, &["section"], Required, Allow),
    spec(None, &["sequence-data"], No, Allow),
    spec(None, &["serializable-deferrable"], No, Allow),
    spec(None, &["snapshot"], Required, Allow),
    spec(None, &["statistics"], No, Allow),
    spec(None, &["statistics-only"], No, Allow),
    spec(None, &["strict-names"], No, Allow),
    spec(None, &["sync-method"], Required, Allow),
    spec(None, &["table-and-children"], Required, Allow),
    spec(None, &["use-set-session-authorization"], No, Allow),
    spec(None, &["with-data"], No, Allow),
    spec(None, &["with-schema"], No, Allow),
    spec(None, &["with-statistics"], No, Allow),
];

/// An option as the user wrote it, for a message: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `--fil`, `--file` or `-f`.
    pub text: String,
    /// The long name it stands for.
    pub long: &'static str,
    pub how: How,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `--file`.
    Long,
    /// `--fil`.
    Abbreviation,
    /// `-f` alone or first in its argument.
    Short,
    /// `-f` after other letters, as in `-vf` (item numbers count from 1).
    Bundled { item: usize },
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Written { text, long, how } = self;
        match how {
            How::Long => write!(f, "`{text}`"),
            How::Abbreviation => write!(f, "`{text}` (abbreviation of --{long})"),
            How::Short => write!(f, "`{text}` (--{long})"),
            How::Bundled { item } => write!(f, "`{text}` (--{long}, bundled in item {item})"),
        }
    }
}

/// Why one pg_dump argument is refused. Item numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("{0} {1}")]
    Refused(Written, &'static str),
    #[error(
        "{0}: write the option in full (what an abbreviation means changes \
         between pg_dump versions)"
    )]
    Abbreviated(Written),
    #[error(
        "`{written}` is ambiguous: it could be {}; write the option in full",
        candidates.join(", ")
    )]
    Ambiguous {
        written: String,
        candidates: Vec<String>,
    },
    #[error("{} is not a pg_dump option keepsake knows", unknown_text(.written, *.item))]
    Unknown {
        written: Option<String>,
        item: usize,
    },
    #[error("{0} needs a value")]
    MissingValue(Written),
    #[error("{0} takes no value")]
    UnexpectedValue(Written),
    #[error(
        "item {0} is not an option: pg_dump would take it as the database to dump \
         (the job's `database` says that)"
    )]
    Positional(usize),
    #[error("`--` would end pg_dump's options before the ones keepsake adds")]
    EndOfOptions,
    #[error(
        "{0} without --if-exists writes DROP statements that fail on an empty \
         database, so the dump could not be restored there; add --if-exists"
    )]
    CleanWithoutIfExists(Written),
    #[error("{0} needs -c/--clean: pg_dump refuses it alone")]
    IfExistsWithoutClean(Written),
}

fn unknown_text(written: &Option<String>, item: usize) -> String {
    match written {
        Some(w) => format!("`{w}`"),
        None => format!("item {item}"),
    }
}

/// An option name safe to repeat in a message: only what option names are
/// made of, so a mistyped value (a password, say) is never echoed.
fn echoable(name: &str) -> Option<String> {
    let plain = name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '?');
    plain.then(|| name.to_string())
}

/// One option found in the arguments.
struct Found {
    item: usize,
    written: Written,
    spec: &'static Spec,
    /// A value was given to an option that takes none (`--no-owner=x`).
    unexpected_value: bool,
    /// The option takes a value but the arguments end before it.
    missing_value: bool,
}

/// Every problem with `args`, in the order of the items; empty when
/// pg_dump may have them.
pub fn check(args: &[String]) -> Vec<ArgError> {
    let mut errors = Vec::new();
    let mut found = Vec::new();
    let mut items = args.iter().enumerate().map(|(i, a)| (i + 1, a.as_str()));
    while let Some((item, arg)) = items.next() {
        if arg == "--" {
            errors.push((item, ArgError::EndOfOptions));
            errors.extend(items.by_ref().map(|(i, _)| (i, ArgError::Positional(i))));
        } else if let Some(body) = arg.strip_prefix("--") {
            match long(body, item) {
                Ok(mut option) => {
                    if option.spec.arity == Arity::Required && !body.contains('=') {
                        option.missing_value = items.next().is_none();
                    }
                    found.push(option);
                }
                Err((e, value_follows)) => {
                    if value_follows && !body.contains('=') {
                        items.next();
                    }
                    errors.push((item, e));
                }
            }
        } else if arg.len() > 1
            && let Some(letters) = arg.strip_prefix('-')
        {
            let (mut options, value_in_next, error) = bundle(letters, item);
            if value_in_next && let Some(last) = options.last_mut() {
                last.missing_value = items.next().is_none();
            }
            found.append(&mut options);
            errors.extend(error.map(|e| (item, e)));
        } else {
            errors.push((item, ArgError::Positional(item)));
        }
    }
    let given = |verdict| found.iter().any(|o: &Found| o.spec.verdict == verdict);
    let pairs = (given(Verdict::Clean), given(Verdict::IfExists));
    errors.extend(
        found
            .into_iter()
            .filter_map(|o| Some((o.item, judge(o, pairs)?))),
    );
    errors.sort_by_key(|(item, _)| *item);
    errors.into_iter().map(|(_, e)| e).collect()
}

/// The one problem with an option found, if any: refusal first, then how
/// it is written, then its value. `(clean, if_exists)`: whether `-c` and
/// `--if-exists` are among the arguments.
fn judge(option: Found, (clean, if_exists): (bool, bool)) -> Option<ArgError> {
    let written = option.written;
    match option.spec.verdict {
        Verdict::Refuse(why) => return Some(ArgError::Refused(written, why)),
        Verdict::Clean if !if_exists => return Some(ArgError::CleanWithoutIfExists(written)),
        Verdict::IfExists if !clean => return Some(ArgError::IfExistsWithoutClean(written)),
        Verdict::Allow | Verdict::Clean | Verdict::IfExists => {}
    }
    if written.how == How::Abbreviation {
        Some(ArgError::Abbreviated(written))
    } else if option.unexpected_value {
        Some(ArgError::UnexpectedValue(written))
    } else if option.missing_value {
        Some(ArgError::MissingValue(written))
    } else {
        None
    }
}

/// `--name`, `--name=value` or an unambiguous prefix of a name, as
/// getopt_long resolves it: an exact name wins, else the prefix must lead
/// to one option (aliases of the same option are not ambiguous). An error
/// says whether every reading of the name takes a value (then the next
/// item is that value, not an argument of its own).
fn long(body: &str, item: usize) -> Result<Found, (ArgError, bool)> {
    let (name, value) = match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    };
    let names = || {
        SPECS
            .iter()
            .flat_map(|s| s.long.iter().map(move |n| (*n, s)))
    };
    let (full, spec, how) = match names().find(|(n, _)| *n == name) {
        Some((full, spec)) => (full, spec, How::Long),
        None => {
            let matches: Vec<_> = names().filter(|(n, _)| n.starts_with(name)).collect();
            match matches.first() {
                None => {
                    let written = echoable(name).map(|n| format!("--{n}"));
                    return Err((ArgError::Unknown { written, item }, false));
                }
                Some(&(full, spec)) if matches.iter().all(|(_, s)| std::ptr::eq(*s, spec)) => {
                    (full, spec, How::Abbreviation)
                }
                Some(_) => {
                    let candidates = matches.iter().map(|(n, s)| match s.verdict {
                        Verdict::Refuse(_) => format!("--{n} (which keepsake refuses)"),
                        _ => format!("--{n}"),
                    });
                    let error = ArgError::Ambiguous {
                        written: format!("--{name}"),
                        candidates: candidates.collect(),
                    };
                    let value_follows = matches.iter().all(|(_, s)| s.arity == Arity::Required);
                    return Err((error, value_follows));
                }
            }
        }
    };
    Ok(Found {
        item,
        written: Written {
            text: format!("--{name}"),
            long: full,
            how,
        },
        spec,
        unexpected_value: value.is_some() && spec.arity == Arity::No,
        // Settled by the caller, who knows whether a next item exists.
        missing_value: false,
    })
}

/// The letters after `-`: options without a value, then at most one that
/// takes the rest of the item as its value, or the next item when nothing
/// is left (the `bool`). A letter pg_dump does not know ends the bundle.
fn bundle(letters: &str, item: usize) -> (Vec<Found>, bool, Option<ArgError>) {
    let mut found = Vec::new();
    for (at, letter) in letters.char_indices() {
        let Some(spec) = SPECS.iter().find(|s| s.short == Some(letter)) else {
            let written = echoable(&letter.to_string()).map(|l| format!("-{l}"));
            return (found, false, Some(ArgError::Unknown { written, item }));
        };
        let how = if at == 0 {
            How::Short
        } else {
            How::Bundled { item }
        };
        found.push(Found {
            item,
            written: Written {
                text: format!("-{letter}"),
                long: spec.long[0],
                how,
            },
            spec,
            unexpected_value: false,
            missing_value: false,
        });
        if spec.arity == Arity::Required {
            let rest = &letters[at + letter.len_utf8()..];
            return (found, rest.is_empty(), None);
        }
    }
    (found, false, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(args: &[&str]) -> Vec<String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        check(&args).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn common_safe_options_pass() {
        let safe: &[&[&str]] = &[
            &["--exclude-table-data=audit_log"],
            &["--exclude-table-data", "audit_log"],
            &["-T", "foo"],
            &["-Tfoo"],
            &["--no-owner"],
            &["-n", "public"],
            &["--schema=x"],
            &["--lock-wait-timeout=10s"],
            &["--no-comments"],
            &["--no-privileges"],
            &["-O", "-x", "-v", "-w"],
            &["-Oxv"],
            &["-vt", "orders"],
            &["--role", "backup_owner"],
            &["-c", "--if-exists"],
            &["--if-exists", "-Oc"],
            &["-t", "--file=x"],
            &["--table", "-f"],
            &["--no-acl", "--large-objects", "--section=pre-data"],
            &[],
        ];
        for args in safe {
            assert_eq!(problems(args), Vec::<String>::new(), "{args:?}");
        }
    }

    #[test]
    fn every_spelling_of_a_refused_option_is_refused() {
        // (arguments, the one message expected)
        let cases: &[(&[&str], &str)] = &[
            (&["--file=/tmp/x"], "`--file` is set by keepsake"),
            (&["--file", "/tmp/x"], "`--file` is set by keepsake"),
            // PostgreSQL 17 added --filter; pg_dump 15 and 16 read --fil as --file.
            (
                &["--fil=/tmp/x"],
                "`--fil` is ambiguous: it could be --file (which keepsake refuses), --filter",
            ),
            (
                &["--fi", "/tmp/x"],
                "`--fi` is ambiguous: it could be --file (which keepsake",
            ),
            (&["-f/tmp/x"], "`-f` (--file) is set by keepsake"),
            (&["-f", "/tmp/x"], "`-f` (--file) is set by keepsake"),
            (
                &["-vf/tmp/x"],
                "`-f` (--file, bundled in item 1) is set by keepsake",
            ),
            (&["-O", "-vf", "/tmp/x"], "`-f` (--file, bundled in item 2)"),
            (
                &["--form=c"],
                "`--form` (abbreviation of --format) is set by keepsake",
            ),
            (
                &["-aFc"],
                "`-F` (--format, bundled in item 1) is set by keepsake",
            ),
            (&["-Fc"], "`-F` (--format) is set by keepsake"),
            (&["-Z9"], "`-Z` (--compress) is set by keepsake"),
            (&["-aZ9"], "`-Z` (--compress, bundled in item 1)"),
            (&["--comp=zstd"], "`--comp` (abbreviation of --compress)"),
            (&["-j4"], "`-j` (--jobs) needs pg_dump's directory format"),
            (&["--jo=4"], "`--jo` (abbreviation of --jobs)"),
            (
                &["-dpostgres://u:pw@h/db"],
                "`-d` (--dbname) is set by keepsake",
            ),
            (&["--db=x"], "`--db` (abbreviation of --dbname)"),
            (&["-hdb"], "`-h` (--host) is set by keepsake"),
            (&["-p5432"], "`-p` (--port) is set by keepsake"),
            (&["--por", "5432"], "`--por` (abbreviation of --port)"),
            (&["--user=x"], "`--user` (abbreviation of --username)"),
            (
                &["-W"],
                "`-W` (--password) would make pg_dump ask for a password",
            ),
            (
                &["--pass"],
                "`--pass` (abbreviation of --password) would make",
            ),
            (&["-vW"], "`-W` (--password, bundled in item 1)"),
            (&["-V"], "`-V` (--version) makes pg_dump print text"),
            (&["--vers"], "`--vers` (abbreviation of --version)"),
            (&["-?"], "`-?` (--help) makes pg_dump print text"),
            (&["--help"], "`--help` makes pg_dump print text"),
            (
                &["--binary-upgrade"],
                "writes a dump that only pg_upgrade can restore",
            ),
            (&["--bin"], "`--bin` (abbreviation of --binary-upgrade)"),
            (&["-C"], "`-C` (--create) puts CREATE DATABASE"),
            (&["-c"], "`-c` (--clean) without --if-exists"),
            (&["--clean"], "`--clean` without --if-exists"),
            (&["--if-exists"], "`--if-exists` needs -c/--clean"),
            (&["shop"], "item 1 is not an option"),
            (&["-"], "item 1 is not an option"),
            (&["--"], "`--` would end pg_dump's options"),
            (
                &["--no-own"],
                "`--no-own` (abbreviation of --no-owner): write the option in full",
            ),
            (&["--no-owner=yes"], "`--no-owner` takes no value"),
            (&["-t"], "`-t` (--table) needs a value"),
            (&["--table"], "`--table` needs a value"),
            (
                &["--frobnicate"],
                "`--frobnicate` is not a pg_dump option keepsake knows",
            ),
            (&["-q"], "`-q` is not a pg_dump option keepsake knows"),
            (&["-X"], "`-X` is not a pg_dump option keepsake knows"),
            (&["-vq"], "`-q` is not a pg_dump option keepsake knows"),
            (&["--s"], "`--s` is ambiguous: it could be --schema, "),
        ];
        for (args, want) in cases {
            let got = problems(args);
            assert_eq!(got.len(), 1, "{args:?}: {got:?}");
            assert!(
                got[0].contains(want),
                "{args:?}: {:?} lacks {want:?}",
                got[0]
            );
        }
    }

    #[test]
    fn values_are_never_echoed() {
        let cases: &[&[&str]] = &[
            &["-dpostgres://u:hunter2@h/db"],
            &["--dbname=postgres://u:hunter2@h/db"],
            &["--db=hunter2"],
            &["--postgres://u:hunter2@h"],
            &["hunter2"],
            &["--no-owner=hunter2"],
            &["-vqhunter2"],
            &["--", "hunter2"],
        ];
        for args in cases {
            let got = problems(args);
            assert!(!got.is_empty(), "{args:?}");
            for message in got {
                assert!(!message.contains("hunter2"), "{args:?}: {message}");
            }
        }
    }

    #[test]
    fn each_bad_option_is_its_own_problem() {
        let got = problems(&[
            "-Fc",
            "--no-owner",
            "-Z9",
            "--jobs=2",
            "-WV",
            "x",
            "--",
            "y",
        ]);
        assert_eq!(got.len(), 8, "{got:#?}");
        // A refused option's value, in the next item, is not a second problem.
        assert_eq!(problems(&["-f", "x", "--file", "y"]).len(), 2);
    }

    #[test]
    fn every_long_name_and_letter_is_listed_once() {
        let mut names: Vec<_> = SPECS.iter().flat_map(|s| s.long.iter()).collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "a long name is listed twice");
        let mut letters: Vec<_> = SPECS.iter().filter_map(|s| s.short).collect();
        let all = letters.len();
        letters.sort();
        letters.dedup();
        assert_eq!(letters.len(), all, "a letter is listed twice");
    }
}
