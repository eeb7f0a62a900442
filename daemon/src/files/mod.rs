//! The file tools' side of the daemon: remote files read and written over SFTP on the daemon's
//! own masters (`remote_fs`), with no remote shell and no quoting.

pub mod remote_fs;
