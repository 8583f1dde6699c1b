node 'waldorf.example.com' {
  include base
}
