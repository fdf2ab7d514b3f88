//! `lpi`: the command line of burn-lpi. `lpi probes check` validates a probe set before training;
//! `lpi compare` puts the probe-run series of several run directories side by side (the paper's
//! three patterns as a table and PNG plots).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lpi_compare::{Comparison, Series};
use lpi_probes::{CheckOptions, TargetPolicy};

/// Watch knowledge form inside a burn model: probe sets and offline analysis.
#[derive(Debug, Parser)]
#[command(name = "lpi", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Probe sets of relational facts.
    #[command(subcommand)]
    Probes(ProbesCommand),
    /// Compare the probe-run series of run directories (for example a MoE and a dense model):
    /// writes comparison.md, comparison.json and PNG plots of the paper's three patterns.
    Compare(CompareArgs),
}

/// Arguments of `lpi compare`.
#[derive(Debug, Args)]
struct CompareArgs {
    /// Run directories written by the hook, each optionally named: `moe=runs/a`. Unnamed ones
    /// are named after the directory.
    #[arg(required = true, value_name = "[NAME=]RUN_DIR")]
    runs: Vec<String>,
    /// Where to write the table and the plots.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Debug, Subcommand)]
enum ProbesCommand {
    /// Check a probe file and report every problem with its file:line and field. Exits 1 on any problem.
    Check(CheckArgs),
}

/// Arguments of `lpi probes check`.
#[derive(Debug, Args)]
struct CheckArgs {
    /// The probe file: JSONL probes, or LAMA triples when --templates is given.
    file: PathBuf,
    /// LAMA templates file (JSONL with `relation` and `template`); makes FILE a triples file.
    #[arg(long, value_name = "FILE")]
    templates: Option<PathBuf>,
    /// A Hugging Face tokenizer.json; without it only the structural checks run.
    #[arg(long, value_name = "FILE")]
    tokenizer: Option<PathBuf>,
    /// The model's context length in tokens; longer prompts are problems (needs --tokenizer).
    #[arg(long, value_name = "N")]
    context: Option<usize>,
    /// Encode targets as they are, not as " " + target (for tokenizers without a word-start distinction).
    #[arg(long)]
    no_leading_space: bool,
    /// Drop probes whose target is more than one token instead of scoring their first token.
    #[arg(long)]
    drop_multi_token: bool,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Probes(ProbesCommand::Check(args)) => probes_check(args),
        Command::Compare(args) => compare(args),
    }
}

fn compare(args: CompareArgs) -> ExitCode {
    let compared = args
        .runs
        .iter()
        .map(|run| {
            let (name, dir) = match run.split_once('=') {
                Some((name, dir)) => (name.to_string(), PathBuf::from(dir)),
                None => {
                    let dir = PathBuf::from(run);
                    let name = dir
                        .file_name()
                        .map_or_else(|| run.clone(), |n| n.to_string_lossy().into_owned());
                    (name, dir)
                }
            };
            Series::load(name, dir)
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(Comparison::new)
        .and_then(|comparison| comparison.write(&args.out).map(|paths| (comparison, paths)));
    match compared {
        Ok((comparison, paths)) => {
            for finding in comparison.report().findings {
                println!("{finding}");
            }
            for path in paths {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probes_check(args: CheckArgs) -> ExitCode {
    let options = CheckOptions {
        templates: args.templates,
        tokenizer: args.tokenizer,
        context_length: args.context,
        policy: TargetPolicy {
            leading_space: !args.no_leading_space,
            drop_multi_token: args.drop_multi_token,
        },
    };
    match lpi_probes::check(&args.file, &options) {
        Ok(outcome) => {
            println!("{outcome}");
            if outcome.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
