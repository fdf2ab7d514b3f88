//! `lpi`: the command line of burn-lpi. `lpi probes check` validates a probe set before training; offline analysis
//! of saved runs will join it as further subcommands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
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
