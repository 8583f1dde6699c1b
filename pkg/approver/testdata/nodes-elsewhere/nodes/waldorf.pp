node 'waldorf.example.com' {
  include motd
}
