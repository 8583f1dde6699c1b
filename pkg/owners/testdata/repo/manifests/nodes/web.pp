# Web servers. web01 is special: exact names beat regexes whatever the order.
node /^web\d+\.example\.com$/ {
  include apache
}

node /^web/ {
  include apache::mail
}

node 'web01.example.com' {
  include apache
  include memcached
}
