//! `s3dlio` binary entry point.

fn main() {
    std::process::exit(s3dlio_cli::run(std::env::args_os()));
}
