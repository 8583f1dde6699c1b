node 'statler.example.com' {
  include motd
}
