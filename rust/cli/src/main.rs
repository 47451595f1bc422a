//! `s3dlio` binary entry point.

fn main() {
    println!("s3dlio {}", s3dlio_cli::VERSION);
}
