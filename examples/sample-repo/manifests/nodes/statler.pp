node 'statler.example.com' {
  include base
}
