//! The `ascend` command line.

fn main() {
    println!("ascend");
}
