# Two names, double quotes and single quotes.
node "waldorf.example.com", 'balcony.example.com' {
  notify { 'greeting':
    message => "hello ${facts['networking']['hostname']}, it's \"${node}\"",
  }
}
