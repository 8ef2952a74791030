//! Running `live` as an unprivileged user (`--user`, `[live] user`): switch
//! user and group after the capture is open, keeping CAP_NET_RAW and
//! CAP_NET_ADMIN (to reopen the interface after it went down).

use nix::unistd::{Gid, Uid, User};

/// A user to run as.
#[derive(Debug, Clone)]
pub struct RunAs {
    name: String,
    uid: Uid,
    gid: Gid,
}

/// Look `name` up (a name or a numeric uid). Errors are one line.
pub fn lookup_user(name: &str) -> Result<RunAs, String> {
    let found = match name.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(name),
    };
    let u = found
        .map_err(|e| format!("user '{name}': {e}"))?
        .ok_or_else(|| format!("user '{name}' does not exist (create it: deploy/systemd/s7sentry.sysusers.conf)"))?;
    Ok(RunAs { name: name.to_string(), uid: u.uid, gid: u.gid })
}

/// Become `u`: nothing to do when the process already runs as it (the shipped
/// systemd unit starts as the user); from root, drop supplementary groups,
/// set the group then the user, keeping the permitted capabilities (the caller
/// then keeps only the capture's two). Any other user cannot switch: an error.
/// `give` (folders the sensor writes into later, e.g. `--evidence`) are handed
/// to the user first.
pub fn switch_user(u: &RunAs, give: &[&std::path::Path]) -> Result<(), String> {
    let me = Uid::current();
    if me == u.uid {
        return Ok(());
    }
    if !me.is_root() {
        return Err(format!(
            "user '{}': running as uid {me}, and only root can switch user; start as root, or as '{}' (systemd User=), or leave user unset",
            u.name, u.name
        ));
    }
    let fail = |what: &str, e: nix::Error| format!("cannot switch to user '{}': {what}: {e}", u.name);
    for p in give {
        nix::unistd::chown(*p, Some(u.uid), Some(u.gid)).map_err(|e| fail(&format!("chown {}", p.display()), e))?;
    }
    nix::sys::prctl::set_keepcaps(true).map_err(|e| fail("keep capabilities", e))?;
    nix::unistd::setgroups(&[]).map_err(|e| fail("setgroups", e))?;
    nix::unistd::setgid(u.gid).map_err(|e| fail("setgid", e))?;
    nix::unistd::setuid(u.uid).map_err(|e| fail("setuid", e))?;
    let _ = nix::sys::prctl::set_keepcaps(false);
    Ok(())
}
