# The base profile of every host.
class base {
  include base::issue

  $root = $facts['balcony_root']

  file { ["${root}/etc", "${root}/etc/balcony"]:
    ensure => directory,
  }

  motd::line { 'welcome':
    text => 'Welcome to the Muppet Theater.',
  }

  # A permadiff: an exec with no guard runs on every Puppet run, so it
  # shows in every noop. It must never reach a delta.
  exec { 'refresh-apt-cache':
    command => '/bin/true',
  }
}
