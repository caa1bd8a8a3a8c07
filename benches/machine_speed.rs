//! The machine's speed alone (`benches/speed`): what `make bench-compare`
//! measures between runs, so that each figure carries the speed of the
//! machine that made it.

mod speed;

fn main() {
    speed::report();
}
