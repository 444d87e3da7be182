//! Every command the documentation shows, run against the real binary, so that a doc example
//! that no longer works fails CI.
//!
//! Where commands are found: fenced `sh`/`console` blocks and inline `evbench …` spans of
//! `README.md`, `docs/*.md`, `bench/README.md` and `grafana/README.md`; the examples in every
//! subcommand's `--help`; the `#   evbench …` lines in the comments of `scenarios/`; the
//! evbench services of `docker-compose.yml`.
//!
//! What each is checked for:
//! * commands that need no server (`validate`, `simulate` into a file, `sessionize`,
//!   `schema print`, `compare`, `--help`) run for real, a block's commands one after the other
//!   in one scratch directory where the repository's files are visible (so `simulate --out
//!   events.jsonl` feeds the `sessionize events.jsonl` after it), and must exit 0; in a
//!   `console` block, what follows a `$ ` command is its standard output, and must match
//!   (`...` on a line of its own stands for any lines, `[..]` within a line for any text);
//!   a report that only a server run would write (`out/…/report.json`) is stood in by
//!   `bench/baselines/steady-latency.json`;
//! * `run` and `sweep` run with `--dry-run`: the scenario, every `--set` key and value and
//!   every flag are checked as a real run would, and nothing starts;
//! * the other commands that need a server (`services`, `aggregate`, `sink`, `schema apply`,
//!   `simulate --brokers`), and any command with a placeholder (`…`, `$f`), are parsed by the
//!   binary's own argument parser (`--help` appended: clap parses every flag and value before
//!   it prints help, and refuses an unknown one);
//! * inline spans are synopses (`evbench schema print [--server-version V]`): their subcommand,
//!   every flag they name and every file of the repository they name must exist;
//! * other commands: `cmp` and `diff` run in the block's directory (the files must be equal),
//!   `ci/…` and `bench/…` scripts exist and are executable, `cargo bench/test -p P --bench/--test
//!   T` name a real package and target, `java … CLASS` a class of `engines/`; any other program
//!   fails the test until it is taught how to check it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn evbench_in(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evbench"))
        .args(args)
        .current_dir(dir)
        .env_remove("EVBENCH_INGEST_PASSWORD")
        .env_remove("EVBENCH_GRAFANA_PASSWORD")
        .env("EVBENCH_LOG", "error")
        .output()
        .unwrap()
}

/// One command as a document shows it, with where it stands.
#[derive(Debug, Clone)]
struct DocCommand {
    /// `docs/benchmarking.md:60`, `evbench sweep --help`, …
    origin: String,
    words: Vec<String>,
    /// The output a `console` block shows for it.
    expected: Option<Vec<String>>,
}

/// The commands of one place that share a scratch directory, in order.
#[derive(Debug)]
struct Block {
    commands: Vec<DocCommand>,
}

/// Splits a shell line into words: quotes, backslash escapes, `#` comments; the line ends at
/// a pipe, a redirection or `&` (what follows is not evbench's), `&&` and `;` start a new
/// command.
fn shell_words(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let mut quote: Option<char> = None;
    let push = |commands: &mut Vec<Vec<String>>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            commands.last_mut().unwrap().push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            (None, '#') if !in_word => break,
            (None, c) if c.is_whitespace() => push(&mut commands, &mut word, &mut in_word),
            (None, ';') => {
                push(&mut commands, &mut word, &mut in_word);
                commands.push(Vec::new());
            }
            (None, '&') if chars.peek() == Some(&'&') => {
                chars.next();
                push(&mut commands, &mut word, &mut in_word);
                commands.push(Vec::new());
            }
            (None, '|' | '>' | '<' | '&') => {
                push(&mut commands, &mut word, &mut in_word);
                // The rest of this command feeds or follows evbench: not ours to check.
                let rest: String = chars.by_ref().collect();
                let more = rest.split_once("&&").map(|(_, more)| more.to_owned());
                commands.retain(|c| !c.is_empty());
                if let Some(more) = more {
                    commands.extend(shell_words(&more));
                }
                return commands;
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    push(&mut commands, &mut word, &mut in_word);
    commands.retain(|c| !c.is_empty());
    commands
}

/// The documents whose commands are checked.
fn documents() -> Vec<PathBuf> {
    let root = repo();
    let mut files = vec![
        root.join("README.md"),
        root.join("bench/README.md"),
        root.join("grafana/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The fenced shell blocks of a Markdown file, each a block of commands.
fn fenced_blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let shown = path.strip_prefix(repo()).unwrap().display().to_string();
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<(usize, String)>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            match open.take() {
                None => open = Some((lang.trim().to_owned(), Vec::new())),
                Some((lang, lines)) => match lang.as_str() {
                    "sh" | "bash" | "shell" => blocks.push(sh_block(&shown, &lines)),
                    "console" => blocks.push(console_block(&shown, &lines)),
                    _ => {}
                },
            }
            continue;
        }
        if let Some((_, lines)) = open.as_mut() {
            lines.push((i + 1, line.to_owned()));
        }
    }
    assert!(open.is_none(), "{shown}: a code block is not closed");
    blocks
}

/// Joins `\`-continued lines: (first line number, logical line).
fn logical_lines(lines: &[(usize, String)]) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut continuing = false;
    for (n, line) in lines {
        let (body, continues) = match line.trim_end().strip_suffix('\\') {
            Some(body) => (body.to_owned(), true),
            None => (line.clone(), false),
        };
        if continuing {
            let last = out.last_mut().unwrap();
            last.1.push(' ');
            last.1.push_str(body.trim());
        } else {
            out.push((*n, body));
        }
        continuing = continues;
    }
    out
}

fn sh_block(shown: &str, lines: &[(usize, String)]) -> Block {
    let mut commands = Vec::new();
    for (n, line) in logical_lines(lines) {
        for words in shell_words(&line) {
            commands.push(DocCommand {
                origin: format!("{shown}:{n}"),
                words,
                expected: None,
            });
        }
    }
    Block { commands }
}

fn console_block(shown: &str, lines: &[(usize, String)]) -> Block {
    let mut commands: Vec<DocCommand> = Vec::new();
    for (n, line) in lines {
        if let Some(command) = line.strip_prefix("$ ") {
            let mut words = shell_words(command);
            assert_eq!(words.len(), 1, "{shown}:{n}: one command per `$ ` line");
            commands.push(DocCommand {
                origin: format!("{shown}:{n}"),
                words: words.remove(0),
                expected: Some(Vec::new()),
            });
        } else {
            let last = commands
                .last_mut()
                .unwrap_or_else(|| panic!("{shown}:{n}: output before any `$ ` command"));
            last.expected.as_mut().unwrap().push(line.clone());
        }
    }
    Block { commands }
}

/// Inline code spans that name an evbench command: `evbench run SCENARIO --out DIR`.
fn inline_synopses(path: &Path) -> Vec<DocCommand> {
    let text = std::fs::read_to_string(path).unwrap();
    let shown = path.strip_prefix(repo()).unwrap().display().to_string();
    let mut found = Vec::new();
    let mut in_fence = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        for (k, span) in line.split('`').enumerate() {
            if k % 2 == 1 && span.starts_with("evbench ") {
                for words in shell_words(span) {
                    found.push(DocCommand {
                        origin: format!("{shown}:{}", i + 1),
                        words,
                        expected: None,
                    });
                }
            }
        }
    }
    found
}

/// The subcommands, as `evbench --help` lists them (`schema print`, `services up`, …).
fn subcommands() -> Vec<Vec<String>> {
    fn listed(help: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut in_list = false;
        for line in help.lines() {
            if line.starts_with("Commands:") {
                in_list = true;
            } else if in_list && line.starts_with("  ") {
                let name = line.split_whitespace().next().unwrap();
                if name != "help" && line.starts_with(&format!("  {name}")) {
                    names.push(name.to_owned());
                }
            } else if in_list && !line.starts_with(' ') {
                in_list = false;
            }
        }
        names
    }
    let mut all = Vec::new();
    for name in listed(&help(&[])) {
        let nested = listed(&help(std::slice::from_ref(&name)));
        if nested.is_empty() {
            all.push(vec![name]);
        } else {
            all.extend(nested.into_iter().map(|n| vec![name.clone(), n]));
        }
    }
    all
}

fn help(path: &[String]) -> String {
    let mut args = path.to_vec();
    args.push("--help".to_owned());
    let output = evbench_in(&repo(), &args);
    assert!(output.status.success(), "evbench {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The flags a subcommand's `--help` lists (`--out`, `-o` spelled as `--out` only).
fn flags(help: &str) -> BTreeSet<String> {
    let mut flags: BTreeSet<String> = ["--help", "--version"].map(String::from).into();
    for line in help.lines() {
        let line = line.trim_start();
        // `-o, --out <OUT>`: the long name after the short one.
        let line = match line.as_bytes() {
            [b'-', c, b',', b' ', ..] if c.is_ascii_alphanumeric() => &line[4..],
            _ => line,
        };
        if let Some(rest) = line.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            flags.insert(format!("--{name}"));
        }
    }
    flags
}

/// The examples in every subcommand's `--help`: indented lines that start with `evbench `.
fn help_examples(subcommands: &[Vec<String>]) -> Vec<Block> {
    let mut blocks = Vec::new();
    for path in subcommands {
        let text = help(path);
        let lines: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("  ") && l.trim_start().starts_with("evbench "))
            .map(|(i, l)| (i + 1, l.trim().to_owned()))
            .collect();
        // An example's continuation lines follow it, indented further.
        let mut joined: Vec<(usize, String)> = Vec::new();
        let all: Vec<&str> = text.lines().collect();
        for (n, first) in lines {
            let mut line = first;
            let mut k = n;
            while line.ends_with('\\') && k < all.len() {
                line.pop();
                line.push(' ');
                line.push_str(all[k].trim());
                k += 1;
            }
            joined.push((n, line));
        }
        let mut block = sh_block(&format!("evbench {} --help", path.join(" ")), &joined);
        for command in &mut block.commands {
            command.origin = format!("evbench {} --help", path.join(" "));
        }
        blocks.push(block);
    }
    blocks
}

/// `#   evbench …` lines in the scenario files' comments.
fn scenario_comment_commands() -> Vec<Block> {
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("scenarios")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let shown = path.strip_prefix(repo()).unwrap().display().to_string();
            let lines: Vec<(usize, String)> = text
                .lines()
                .enumerate()
                .filter_map(|(i, l)| {
                    let comment = l.trim_start().strip_prefix('#')?.trim();
                    comment
                        .starts_with("evbench ")
                        .then(|| (i + 1, comment.to_owned()))
                })
                .collect();
            sh_block(&shown, &lines)
        })
        .collect()
}

/// The evbench commands of `docker-compose.yml`: `command: ["sink", "--brokers", …]` arrays of
/// the services built on the evbench image, and `exec evbench …` lines of shell commands (with
/// the lines of the same folded block after them).
fn compose_commands(known: &[Vec<String>]) -> Block {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let origin = format!("docker-compose.yml:{}", i + 1);
        let trimmed = line.trim_start();
        if let Some(array) = trimmed.strip_prefix("command: [") {
            let words: Vec<String> = serde_json::from_str(&format!("[{array}")).unwrap();
            if known.iter().any(|path| words.first() == path.first()) {
                let mut all = vec!["evbench".to_owned()];
                all.extend(words);
                commands.push(DocCommand {
                    origin,
                    words: all,
                    expected: None,
                });
            }
        } else if let Some(rest) = trimmed.strip_prefix("exec evbench ") {
            let indent = line.len() - trimmed.len();
            let mut joined = format!("evbench {rest}");
            for next in &lines[i + 1..] {
                let next_indent = next.len() - next.trim_start().len();
                if next_indent != indent || next.trim().is_empty() {
                    break;
                }
                joined.push(' ');
                joined.push_str(next.trim());
            }
            for words in shell_words(&joined) {
                commands.push(DocCommand {
                    origin: origin.clone(),
                    words,
                    expected: None,
                });
            }
        }
    }
    assert!(
        commands.len() >= 4,
        "docker-compose.yml's evbench commands: {commands:?}"
    );
    Block { commands }
}

/// The scratch directory a block runs in: the repository's top-level entries linked in, no
/// `out/` or `target/`.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if name == "out" || name == "target" || name == ".git" {
            continue;
        }
        std::os::unix::fs::symlink(&path, dir.path().join(name)).unwrap();
    }
    dir
}

/// How far a command can be taken without servers.
#[derive(Debug, PartialEq)]
enum Way {
    /// Run as written.
    Run,
    /// Run with `--dry-run`.
    DryRun,
    /// Parsed only (`--help` appended).
    Parse,
}

fn needs_servers(args: &[String]) -> bool {
    let first = args.first().map(String::as_str);
    let second = args.get(1).map(String::as_str);
    match (first, second) {
        (Some("services" | "aggregate" | "sink"), _) => true,
        (Some("schema"), Some("apply")) => true,
        (Some("simulate"), _) => args.iter().any(|a| a == "--brokers"),
        _ => false,
    }
}

fn way(args: &[String]) -> Way {
    if args
        .iter()
        .any(|a| a == "--help" || a == "-h" || a == "--version")
    {
        return Way::Run;
    }
    let placeholder = args.iter().any(|a| a.contains('…') || a.contains('$'));
    match args.first().map(String::as_str) {
        Some("run" | "sweep") if !placeholder => Way::DryRun,
        _ if placeholder || needs_servers(args) => Way::Parse,
        _ => Way::Run,
    }
}

/// `scenarios/*.toml` and the like, expanded in `dir` (sorted, as a shell does).
fn expand_globs(dir: &Path, args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        let Some((prefix, suffix)) = arg.split_once('*') else {
            out.push(arg.clone());
            continue;
        };
        let (parent, start) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let mut matches: Vec<String> = std::fs::read_dir(dir.join(parent))
            .unwrap_or_else(|e| panic!("{arg}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(start) && n.ends_with(suffix) && !suffix.contains('/'))
            .map(|n| {
                if parent.is_empty() {
                    n
                } else {
                    format!("{parent}/{n}")
                }
            })
            .collect();
        assert!(!matches.is_empty(), "{arg} matches nothing");
        matches.sort();
        out.extend(matches);
    }
    out
}

/// Reports only a server run writes, stood in by a baseline so that `compare` can run.
fn stand_in_reports(dir: &Path, args: &[String]) {
    for arg in args {
        let path = dir.join(arg);
        if arg.starts_with("out/") && arg.ends_with(".json") && !path.exists() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(repo().join("bench/baselines/steady-latency.json"), &path).unwrap();
        }
    }
}

/// Whether `actual` is what a `console` block shows: `...` lines stand for any lines, `[..]`
/// for any text within a line; trailing spaces do not count.
fn output_matches(expected: &[String], actual: &str) -> bool {
    fn line_matches(pattern: &str, line: &str) -> bool {
        let parts: Vec<&str> = pattern.split("[..]").collect();
        if parts.len() == 1 {
            return pattern == line;
        }
        let mut rest = match line.strip_prefix(parts[0]) {
            Some(rest) => rest,
            None => return false,
        };
        for part in &parts[1..parts.len() - 1] {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.ends_with(parts[parts.len() - 1])
    }
    fn matches(pattern: &[&str], lines: &[&str]) -> bool {
        match pattern.split_first() {
            None => lines.is_empty(),
            Some((&"...", rest)) => (0..=lines.len()).any(|k| matches(rest, &lines[k..])),
            Some((first, rest)) => lines
                .split_first()
                .is_some_and(|(line, more)| line_matches(first, line) && matches(rest, more)),
        }
    }
    let pattern: Vec<&str> = expected.iter().map(|l| l.trim_end()).collect();
    let lines: Vec<&str> = actual.lines().map(str::trim_end).collect();
    matches(&pattern, &lines)
}

/// The evbench arguments of a command line, or None if it is not evbench's.
fn evbench_args(words: &[String]) -> Option<Vec<String>> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let rest = match words.as_slice() {
        [
            "evbench" | "target/release/evbench" | "target/debug/evbench",
            rest @ ..,
        ] => rest,
        ["cargo", "run", rest @ ..] => {
            let at = rest.iter().position(|w| *w == "--")?;
            assert!(
                rest.windows(2).any(|w| w == ["-p", "evbench"]),
                "cargo run of another package: {words:?}"
            );
            &rest[at + 1..]
        }
        _ => return None,
    };
    Some(rest.iter().map(|w| w.to_string()).collect())
}

/// Checks a command that is not evbench's (run in `dir` when it only compares files, as `cmp`
/// and `diff` do); an error names what is wrong.
fn check_other(dir: &Path, words: &[String]) -> Result<(), String> {
    let root = repo();
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    // Environment assignments before the program (`EVBENCH_…=… java …`), or alone (`F=…`).
    while words.first().is_some_and(|w| {
        w.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
    }) {
        words.remove(0);
    }
    let Some(program) = words.first() else {
        return Ok(());
    };
    let value_of = |flag: &str| {
        words
            .windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].to_owned())
    };
    match *program {
        p if p.starts_with("ci/") || p.starts_with("bench/") => {
            use std::os::unix::fs::PermissionsExt as _;
            let meta = std::fs::metadata(root.join(p)).map_err(|e| format!("{p}: {e}"))?;
            if meta.permissions().mode() & 0o111 == 0 {
                return Err(format!("{p} is not executable"));
            }
            Ok(())
        }
        "cargo" => {
            if let Some(package) = value_of("-p") {
                let dir = root.join("crates").join(&package);
                if !dir.join("Cargo.toml").exists() {
                    return Err(format!("no package {package} in crates/"));
                }
                for (flag, folder) in [("--bench", "benches"), ("--test", "tests")] {
                    if let Some(target) = value_of(flag) {
                        let file = dir.join(folder).join(format!("{target}.rs"));
                        if !file.exists() {
                            return Err(format!("{package} has no {flag} {target}"));
                        }
                    }
                }
            }
            Ok(())
        }
        "java" => {
            // The class is the first word after the options (`-cp PATH`, `-Xmx…`).
            let mut rest = words[1..].iter();
            let class = loop {
                match rest.next() {
                    Some(&"-cp" | &"-classpath") => {
                        rest.next();
                    }
                    Some(w) if w.starts_with('-') => {}
                    Some(w) => break *w,
                    None => return Err("java without a class".to_owned()),
                }
            };
            let relative = format!("{}.java", class.replace('.', "/"));
            let found = std::fs::read_dir(root.join("engines")).unwrap().any(|e| {
                e.unwrap()
                    .path()
                    .join("src/main/java")
                    .join(&relative)
                    .exists()
            });
            if found {
                Ok(())
            } else {
                Err(format!("no class {class} in engines/*/src/main/java"))
            }
        }
        "mvn" => {
            // The reactor (`-f POM`) and the modules it is asked to build (`-pl a,b`) exist.
            let pom = value_of("-f").unwrap_or_else(|| "pom.xml".to_owned());
            let pom = root.join(pom);
            if !pom.is_file() {
                return Err(format!("mvn -f {}: no such file", pom.display()));
            }
            let reactor = std::fs::read_to_string(&pom).map_err(|e| e.to_string())?;
            for module in value_of("-pl").iter().flat_map(|m| m.split(',')) {
                if !reactor.contains(&format!("<module>{module}</module>")) {
                    return Err(format!("{} has no module {module}", pom.display()));
                }
            }
            Ok(())
        }
        "curl" => {
            // Not run (it reads a process that runs only in the reader's shell): its URL must
            // be on this machine, never elsewhere.
            let url = words
                .iter()
                .find(|w| w.starts_with("http"))
                .ok_or("curl without a URL")?;
            if url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:") {
                Ok(())
            } else {
                Err(format!("curl {url}: not a loopback address"))
            }
        }
        "cmp" | "diff" => {
            let output = Command::new(program)
                .args(&words[1..])
                .current_dir(dir)
                .output()
                .map_err(|e| format!("{program}: {e}"))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "the files differ: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ))
            }
        }
        other => Err(format!(
            "a command this test does not know how to check: {other} (teach check_other)"
        )),
    }
}

/// Checks one evbench command in `dir`; an error says what went wrong.
fn check_evbench(dir: &Path, args: &[String], expected: Option<&[String]>) -> Result<(), String> {
    let mut args = expand_globs(dir, args);
    let way = way(&args);
    match way {
        Way::Run => stand_in_reports(dir, &args),
        Way::DryRun if !args.iter().any(|a| a == "--dry-run") => args.push("--dry-run".to_owned()),
        Way::DryRun => {}
        Way::Parse => {
            for arg in &mut args {
                if arg.contains('…') || arg.contains('$') {
                    *arg = "x".to_owned();
                }
            }
            args.push("--help".to_owned());
        }
    }
    let output = evbench_in(dir, &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "`evbench {}` ({way:?}) exited {:?}: {}",
            args.join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    if let Some(expected) = expected {
        if way == Way::Parse {
            return Err("a command with output shown must run without servers".to_owned());
        }
        if !output_matches(expected, &stdout) {
            return Err(format!(
                "output differs.\n--- shown\n{}\n--- printed\n{stdout}",
                expected.join("\n")
            ));
        }
    }
    Ok(())
}

/// A synopsis: its subcommand exists and every flag it names is one of that subcommand's.
fn check_synopsis(args: &[String], known: &[Vec<String>]) -> Result<(), String> {
    let path = known
        .iter()
        .filter(|path| args.starts_with(path))
        .max_by_key(|path| path.len());
    let Some(path) = path else {
        // `evbench schema` alone names a group of subcommands.
        let group = args.first().map(String::as_str).unwrap_or_default();
        if known.iter().any(|p| p.len() == 2 && p[0] == group) {
            return Ok(());
        }
        return Err(format!("no subcommand `evbench {}`", args.join(" ")));
    };
    let flags = flags(&help(path));
    for arg in &args[path.len()..] {
        // A file of the repository it names (`scenarios/faults.toml`) exists.
        let names_a_file = ["scenarios/", "bench/", "docs/", "crates/"]
            .iter()
            .any(|dir| arg.starts_with(dir))
            && !arg.contains(['<', '>', '…', '*', '$', '[']);
        if names_a_file && !repo().join(arg).exists() {
            return Err(format!("no file {arg}"));
        }
        let arg = arg.trim_start_matches('[');
        if let Some(flag) = arg.strip_prefix("--") {
            let name: String = flag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !flags.contains(&format!("--{name}")) {
                return Err(format!(
                    "`evbench {}` has no --{name} (it has {})",
                    path.join(" "),
                    flags.iter().cloned().collect::<Vec<_>>().join(" ")
                ));
            }
        }
    }
    Ok(())
}

fn check_blocks(blocks: &[Block], failures: &mut Vec<String>) -> usize {
    let mut checked = 0;
    for block in blocks {
        let dir = scratch();
        for command in &block.commands {
            let result = match evbench_args(&command.words) {
                Some(args) => check_evbench(dir.path(), &args, command.expected.as_deref()),
                None => check_other(dir.path(), &command.words),
            };
            checked += 1;
            if let Err(e) = result {
                failures.push(format!(
                    "{}: {}\n    {e}",
                    command.origin,
                    command.words.join(" ")
                ));
            }
        }
    }
    checked
}

#[test]
fn every_documented_command_works() {
    let known = subcommands();
    assert!(known.len() >= 10, "subcommands found: {known:?}");
    let mut failures = Vec::new();
    let mut blocks = Vec::new();
    let mut synopses = Vec::new();
    for path in documents() {
        blocks.extend(fenced_blocks(&path));
        synopses.extend(inline_synopses(&path));
    }
    blocks.extend(help_examples(&known));
    blocks.extend(scenario_comment_commands());
    blocks.push(compose_commands(&known));
    let checked = check_blocks(&blocks, &mut failures);
    for synopsis in &synopses {
        let args = evbench_args(&synopsis.words).unwrap();
        if let Err(e) = check_synopsis(&args, &known) {
            failures.push(format!(
                "{}: `{}`\n    {e}",
                synopsis.origin,
                synopsis.words.join(" ")
            ));
        }
    }
    eprintln!(
        "{checked} documented commands and {} synopses checked",
        synopses.len()
    );
    assert!(
        checked > 30,
        "only {checked} commands found: is the extraction broken?"
    );
    assert!(
        failures.is_empty(),
        "{} documented commands do not work:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn documented_gates_are_the_gate_ci_runs() {
    // ci/run is the one source of the gate's tolerances; every compare command in the docs
    // and in `--help` that sets a throughput tolerance shows the same ones.
    let ci = std::fs::read_to_string(repo().join("ci/run")).unwrap();
    let gate = |text: &str| -> Vec<String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        [
            "--throughput-tolerance",
            "--latency-tolerance",
            "--cost-tolerance",
            "--percentiles",
        ]
        .iter()
        .map(|flag| {
            let at = words
                .iter()
                .position(|w| w == flag)
                .unwrap_or_else(|| panic!("{flag} in {text}"));
            words[at + 1].trim_matches(['\\', '"']).to_owned()
        })
        .collect()
    };
    let at = ci
        .find("--throughput-tolerance")
        .expect("ci/run runs the gate");
    let ci_gate = gate(&ci[at..]);
    let mut shown = Vec::new();
    let mut blocks: Vec<Block> = documents().iter().flat_map(|p| fenced_blocks(p)).collect();
    blocks.extend(help_examples(&[vec!["compare".to_owned()]]));
    for command in blocks.iter().flat_map(|b| &b.commands) {
        if command.words.iter().any(|w| w == "--throughput-tolerance") {
            shown.push((command.origin.clone(), gate(&command.words.join(" "))));
        }
    }
    assert!(
        shown.len() >= 2,
        "the gate in the docs and in compare --help: {shown:?}"
    );
    for (origin, flags) in shown {
        assert_eq!(flags, ci_gate, "{origin} shows another gate than ci/run's");
    }
}

#[test]
fn shell_words_split_as_a_shell_does() {
    let w = |s: &str| shell_words(s);
    assert_eq!(
        w("ci/setup && cargo run -p evbench -- run a.toml   # the main job"),
        vec![
            vec!["ci/setup"],
            vec!["cargo", "run", "-p", "evbench", "--", "run", "a.toml"]
        ]
    );
    assert_eq!(
        w("evbench services up > log &"),
        vec![vec!["evbench", "services", "up"]]
    );
    assert_eq!(
        w(r#"java -cp "$F/libs/*:x" Main"#),
        vec![vec!["java", "-cp", "$F/libs/*:x", "Main"]]
    );
    assert_eq!(
        w("evbench x | head && evbench y"),
        vec![vec!["evbench", "x"], vec!["evbench", "y"]]
    );
}

#[test]
fn shown_output_matches_with_wildcards() {
    let shown = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(output_matches(
        &shown(&["a [..] c", "..."]),
        "a b c\nmore\nlines\n"
    ));
    assert!(output_matches(&shown(&["...", "last"]), "x\nlast\n"));
    assert!(!output_matches(&shown(&["a [..] c"]), "a b d\n"));
    assert!(!output_matches(&shown(&["one"]), "one\ntwo\n"));
}

#[test]
fn every_mention_of_the_minimum_rust_is_the_workspaces() {
    let root = repo();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let version_after = |text: &str| -> Option<String> {
        let v: String = text
            .trim_start_matches([' ', '=', '"', 'i', 's'])
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        (!v.is_empty()).then_some(v)
    };
    let (_, after) = manifest.split_once("rust-version").unwrap();
    let workspace = version_after(after).unwrap();
    let mut files = documents();
    files.push(root.join("flake.nix"));
    let mut mentions = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (_, after) in text
            .match_indices("rust-version")
            .map(|(i, m)| (i, &text[i + m.len()..]))
        {
            if let Some(version) = version_after(after) {
                mentions += 1;
                assert_eq!(
                    version,
                    workspace,
                    "{} says rust-version {version}; Cargo.toml says {workspace}",
                    file.display()
                );
            }
        }
    }
    assert!(
        mentions >= 2,
        "flake.nix and bench/README.md name the minimum Rust"
    );
}

#[test]
fn the_readme_tour_names_every_crate_and_folder() {
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tour: Vec<&str> = readme
        .split("## Tour")
        .nth(1)
        .expect("a Tour section")
        .lines()
        .filter(|l| l.starts_with("| `"))
        .collect();
    let named = |entry: &str| tour.iter().any(|row| row.contains(&format!("`{entry}")));
    let mut missing = Vec::new();
    for dir in std::fs::read_dir(root.join("crates")).unwrap() {
        let name = dir.unwrap().file_name().to_string_lossy().into_owned();
        if !named(&format!("crates/{name}`")) {
            missing.push(format!("crates/{name}"));
        }
    }
    // The repository's own top-level entries (what git tracks), but not its housekeeping files.
    let tracked = Command::new("git")
        .args(["ls-files"])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|o| o.status.success());
    if let Some(tracked) = tracked {
        let tops: std::collections::BTreeSet<String> = String::from_utf8_lossy(&tracked.stdout)
            .lines()
            .map(|l| l.split('/').next().unwrap().to_owned())
            .collect();
        let housekeeping = [
            ".gitignore",
            ".dockerignore",
            "Cargo.toml",
            "Cargo.lock",
            "README.md",
        ];
        for top in tops {
            if housekeeping.contains(&top.as_str()) {
                continue;
            }
            let folder = root.join(&top).is_dir();
            let shown = if folder {
                format!("{top}/")
            } else {
                top.clone()
            };
            if !named(&shown) && !named(&format!("{top}`")) {
                missing.push(shown);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README's tour does not name {missing:?}"
    );
}
