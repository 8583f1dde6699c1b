class motd {
  file { '/etc/motd': content => "hello\n" }
}
