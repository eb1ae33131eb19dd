//! The `dr-harness` command: everything lives in the library; this maps its outcome to an exit code.

fn main() {
    std::process::exit(dr_harness::cli::main());
}
