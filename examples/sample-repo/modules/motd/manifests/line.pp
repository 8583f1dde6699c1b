# One line of the message of the day, in its own file.
define motd::line (String $text) {
  file { "${facts['balcony_root']}/etc/balcony/motd-${title}":
    ensure  => file,
    content => "${text}\n",
  }
}
