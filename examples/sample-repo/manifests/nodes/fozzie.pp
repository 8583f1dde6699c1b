node 'fozzie.example.com' {
  include base
}
