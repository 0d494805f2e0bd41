//! `sentinel doctor`: checks this installation and says what to fix.

/// `sentinel doctor`: one line per check, the fix under each that needs one; an error (exit 1) if
/// anything fails.
pub fn run() -> anyhow::Result<()> {
    use sentinel::diagnose::Status;
    println!("{}", sentinel::diagnose::sentinel_version());
    let checks = sentinel::diagnose::doctor();
    for c in &checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Note => "note",
            Status::Fail => "FAIL",
        };
        println!("{mark} {}: {}", c.what, c.detail);
        if let Some(f) = &c.fix {
            println!("     -> {f}");
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}
