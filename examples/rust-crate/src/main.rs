use std::io::Read;

fn main() {
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("wordcount: {e}");
        std::process::exit(1);
    }
    let c = wordcount::count(&text);
    println!("{} {} {}", c.lines, c.words, c.bytes);
}
