# The pre-login banner.
class base::issue {
  file { "${facts['balcony_root']}/etc/issue":
    ensure  => file,
    content => "Muppet Theater\n",
  }
}
